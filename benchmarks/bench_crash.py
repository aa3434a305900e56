"""Kill tests, long versions: the bot process and the post store, SIGKILLed again and again.

Why: the issues ask that a crash lose no citizen message (at most one duplicate reply per kill),
that the store survive 100 kills during writes with 0 unreadable files and 0 lost acknowledged
writes, that killing the bot while a CLI import runs beside it lose no post, and that a burst of
forwarded messages get one combined reply. CI runs short versions (tests/test_crash.py,
tests/test_store.py, tests/test_many_writers.py, tests/test_bursts.py); this runs the long ones
with the same code:

  1. bot: `python -m bot` against the loopback Bot API emulator (tests/emulator.py) holding a
     backlog of --updates messages from --users users, SIGKILLed --bot-kills times at random
     moments and restarted, then left to drain (tests/test_crash.py: crash_run);
  2. store: tests/store_writer.py adding posts and contacts, SIGKILLed --store-kills times, the
     file re-opened and checked after every kill (tests/test_store.py: kill_writer_repeatedly);
  3. writers: the bot SIGKILLed --writer-kills times while `python -m bot import` runs in a loop
     beside it and a staff member publishes through it with /post; then every acknowledged post is
     looked up in the store (tests/test_many_writers.py: writers_kill_run);
  4. forwards: --forwarders people each forward the same ten-message chat with a broker at once;
     each must get one reply, the referral card with 110, 1955 and the NIA line
     (tests/test_bursts.py: forwards_run).

    python benchmarks/bench_crash.py [--bot-kills 20] [--users 30] [--updates 3000] [--store-kills 100]
                                     [--writer-kills 20] [--forwarders 20] [--seed 1] [--skip-bot …]

Prints kills, lost, duplicates, unreadable files, lost acknowledged writes, lost posts, replies per
burst; exits 1 if a target is missed (0 lost, duplicates <= kills, 0 unreadable, 0 lost
acknowledged writes, 0 lost posts, one right reply per burst).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.test_bursts import forwards_run  # noqa: E402
from tests.test_crash import crash_run  # noqa: E402
from tests.test_many_writers import writers_kill_run  # noqa: E402
from tests.test_store import kill_writer_repeatedly  # noqa: E402


def _writes_in(path: Path) -> str:
    from bot.store import PostStore, StoreError

    try:
        store = PostStore(path)
    except StoreError as exc:
        return f"unreadable ({exc})"
    try:
        return f"{len(store.posts())} posts and {len(store.contacts())} contacts written"
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bot-kills", type=int, default=20)
    ap.add_argument("--users", type=int, default=30)
    ap.add_argument("--updates", type=int, default=3000, help="backlog size (a multiple of --users)")
    ap.add_argument("--store-kills", type=int, default=100)
    ap.add_argument("--writer-kills", type=int, default=20)
    ap.add_argument("--forwarders", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip-bot", action="store_true")
    ap.add_argument("--skip-store", action="store_true")
    ap.add_argument("--skip-writers", action="store_true")
    ap.add_argument("--skip-forwards", action="store_true")
    args = ap.parse_args(argv)
    ok = True

    if not args.skip_bot:
        per_user = max(1, args.updates // args.users)
        print(f"bot kill test: {args.users} users x {per_user} messages, {args.bot_kills} SIGKILLs, seed {args.seed}",
              flush=True)
        with tempfile.TemporaryDirectory(prefix="bench-crash-") as tmp:
            result = asyncio.run(crash_run(Path(tmp), users=args.users, per_user=per_user, kills=args.bot_kills,
                                           seed=args.seed, drain_timeout=max(120.0, args.updates / 10),
                                           say=lambda s: print("  " + s, flush=True)))
        print(f"bot:   kills={result.kills} updates={result.updates} lost={result.lost} "
              f"duplicates={result.duplicates} (target 0 lost, <= {result.kills} duplicates) "
              f"unexpected={result.unexpected} unconfirmed_after={result.pending_after} exit={result.exit_code} "
              f"in {result.seconds:.1f}s", flush=True)
        if result.lost or result.duplicates > result.kills or result.unexpected or result.pending_after:
            ok = False
            print(result.log_tail)

    if not args.skip_store:
        print(f"store kill test: {args.store_kills} SIGKILLs during mixed post/contact writes", flush=True)
        start = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="bench-store-kill-") as tmp:
            kills, unreadable, lost, leftovers = kill_writer_repeatedly(Path(tmp), kills=args.store_kills,
                                                                         seed=args.seed)
            written = _writes_in(Path(tmp) / "kill.json")
        print(f"store: kills={kills} unreadable_files={unreadable} lost_acknowledged_writes={lost} "
              f"temp_files_left={leftovers} (target 0, 0 and 0); {written} in the file at the end; "
              f"{time.monotonic() - start:.1f}s", flush=True)
        ok = ok and unreadable == 0 and lost == 0 and leftovers == 0

    if not args.skip_writers:
        print(f"writers kill test: {args.writer_kills} SIGKILLs of the bot while a CLI import loop and a staff "
              "/post loop write the store", flush=True)
        with tempfile.TemporaryDirectory(prefix="bench-writers-") as tmp:
            result = asyncio.run(writers_kill_run(Path(tmp), kills=args.writer_kills, seed=args.seed,
                                                  say=lambda s: print("  " + s, flush=True)))
        print(f"writers: {result.line()} (target 0 lost)", flush=True)
        if result.lost_imported or result.lost_staff or result.unreadable:
            ok = False
            print(result.log_tail)

    if not args.skip_forwards:
        # One person alone waits out the quiet window; many at once fill a getUpdates batch (100), and
        # a full batch of held updates is answered at once (newer ones are out of sight behind it).
        for people in sorted({1, args.forwarders}):
            print(f"forwards test: {people} people each forward ten messages at once", flush=True)
            with tempfile.TemporaryDirectory(prefix="bench-forwards-") as tmp:
                result = asyncio.run(forwards_run(Path(tmp), people=people))
            print(f"forwards: {result.line()} (target: one reply each, every one the right referral)", flush=True)
            if result.right_referral != people:
                ok = False
                print(result.log_tail)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
