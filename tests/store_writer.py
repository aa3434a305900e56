"""A writer process for the store kill test: adds posts one by one and prints 'ack <id>' after each returns."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.store import PostStore  # noqa: E402


def main() -> None:
    path, start = sys.argv[1], int(sys.argv[2])
    store = PostStore(path)
    n = start
    while True:
        n += 1
        store.upsert_posts([{"id": f"w{n}", "title": f"Write {n} 臺灣", "date": "2024-01-02", "category": "news",
                             "body": "Kill test body. " * 20}])
        if n % 3 == 0:
            store.upsert_contacts([{"id": f"k{n}", "name": f"Line {n}", "phone": "1955"}])
        sys.stdout.write(f"ack {n}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
