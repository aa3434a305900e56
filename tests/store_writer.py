"""A writer process for the store kill tests: prints 'ack <n>' after each write returns.

mode "mixed": a post per write and every third time a contact in a write of its own;
mode "import": posts w<n>, v<n> and contact k<n> in one import (one write)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.store import PostStore  # noqa: E402


def main() -> None:
    path, start = sys.argv[1], int(sys.argv[2])
    mode = sys.argv[3] if len(sys.argv) > 3 else "mixed"
    store = PostStore(path)
    n = start
    while True:
        n += 1
        if mode == "import":
            post = {"date": "2024-01-02", "category": "news", "body": "Kill test body. " * 20}
            store.import_records([{**post, "id": f"w{n}", "title": f"Write {n}"}, {**post, "id": f"v{n}", "title": f"V {n}"}],
                                 [{"id": f"k{n}", "name": f"Line {n}", "phone": "1955"}])
            sys.stdout.write(f"ack {n}\n")
            sys.stdout.flush()
            continue
        store.upsert_posts([{"id": f"w{n}", "title": f"Write {n} 臺灣", "date": "2024-01-02", "category": "news",
                             "body": "Kill test body. " * 20}])
        if n % 3 == 0:
            store.upsert_contacts([{"id": f"k{n}", "name": f"Line {n}", "phone": "1955"}])
        sys.stdout.write(f"ack {n}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
