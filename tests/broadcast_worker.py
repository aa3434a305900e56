"""A bot process reduced to its broadcast: run (or resume) one broadcast, then exit.

Used by tests/test_broadcast_kill.py, which SIGKILLs it at random moments. "Delivery" is a line
appended to a log file with fsync, so every message that left the process is on disk even if
the process dies a microsecond later, exactly like a message Telegram already has.

    python tests/broadcast_worker.py DB LOG BROADCAST_ID [--rate 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.broadcast import Broadcaster  # noqa: E402
from bot.opstore import SQLiteOperationalStore  # noqa: E402


def file_sender(log_path: str):
    """A send function whose delivery is a durable line in a file."""
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    async def send(chat_id: int, text_html: str, buttons_json: str) -> None:
        os.write(fd, f"{chat_id}\n".encode())
        os.fsync(fd)

    return send


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("db")
    parser.add_argument("log")
    parser.add_argument("broadcast_id", type=int)
    parser.add_argument("--rate", type=float, default=200.0)
    args = parser.parse_args(argv)

    store = SQLiteOperationalStore(args.db)
    try:
        report = await Broadcaster(store, file_sender(args.log), rate_per_s=args.rate).run(args.broadcast_id)
    finally:
        store.close()
    print(json.dumps({"state": report.state, "sent": report.sent, "processed": report.processed}), flush=True)
    return 0 if report.state == "done" else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
