"""Latency of the operational store's hot writes at 1k / 10k / 100k subscribers.

Why: a subscribe, an unsubscribe and one broadcast-progress write (mark_delivery) must each stay
under 10 ms p99 at 100,000 subscribers, on the event-loop thread, with every write durable.
This builds real stores in a temp folder and times each call, for synchronous=FULL (survives a
power cut) and NORMAL (survives a process kill only), so the choice in bot/opstore.py is measured.

    python benchmarks/bench_opstore.py [--sizes 1000,10000,100000] [--ops 1000] [--sync FULL,NORMAL]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.opstore import TOPICS, SQLiteOperationalStore  # noqa: E402

BUDGET_MS = 10.0


@dataclass(frozen=True)
class Stat:
    op: str
    p50_ms: float
    p99_ms: float
    max_ms: float
    n: int


def _stat(op: str, samples_ns: list[int]) -> Stat:
    ms = sorted(s / 1e6 for s in samples_ns)
    p99 = statistics.quantiles(ms, n=100, method="inclusive")[98] if len(ms) > 1 else ms[0]
    return Stat(op, statistics.median(ms), p99, ms[-1], len(ms))


def _time_each(items: list, call: Callable[[object], object]) -> list[int]:
    samples = []
    for item in items:
        t = time.perf_counter_ns()
        call(item)
        samples.append(time.perf_counter_ns() - t)
    return samples


def _once_ms(call: Callable[[], object]) -> float:
    t = time.perf_counter()
    call()
    return (time.perf_counter() - t) * 1000


def build(path: Path, size: int) -> float:
    """A store with `size` subscribers (every 3rd on news only), built in one transaction."""
    t = time.perf_counter()
    with SQLiteOperationalStore(path) as store, store.transaction():
        for chat in range(1, size + 1):
            store.subscribe(chat, ["news"] if chat % 3 == 0 else None, lang="zh" if chat % 2 else "en")
    return time.perf_counter() - t


def measure(path: Path, size: int, ops: int, sync: str) -> tuple[list[Stat], dict[str, float]]:
    stats: list[Stat] = []
    once: dict[str, float] = {}
    with SQLiteOperationalStore(path, synchronous=sync) as store:
        new_ids = list(range(size + 1, size + ops + 1))
        stats.append(_stat("subscribe (new)", _time_each(new_ids, lambda c: store.subscribe(c, None, "en"))))
        stats.append(
            _stat("subscribe (again)", _time_each(new_ids, lambda c: store.subscribe(c, None, "en")))
        )
        stats.append(_stat("set_topics", _time_each(new_ids, lambda c: store.set_topics(c, TOPICS[:2]))))
        step = max(1, size // ops)
        old_ids = list(range(1, size + 1, step))[:ops]
        stats.append(_stat("unsubscribe", _time_each(old_ids, lambda c: store.unsubscribe(c))))

        bid = store.create_broadcast(1, "news", "<b>benchmark</b>")
        once["materialise_recipients"] = _once_ms(lambda: store.materialise_recipients(bid))
        recipients = store.next_pending(bid, ops)
        stats.append(
            _stat("mark_delivery", _time_each(recipients, lambda c: store.mark_delivery(bid, c, "sent")))
        )
        stats.append(
            _stat("next_pending(100)", _time_each(list(range(200)), lambda _: store.next_pending(bid, 100)))
        )
        stats.append(
            _stat("broadcast() progress", _time_each(list(range(200)), lambda _: store.broadcast(bid)))
        )
        stats.append(_stat("set_last_update_id", _time_each(list(range(ops)), store.set_last_update_id)))
        stats.append(
            _stat(
                "log_question",
                _time_each(
                    list(range(ops)), lambda i: store.log_question(f"q{i}", "post", "p1", 80.0, "ab" * 12)
                ),
            )
        )
        once["count_by_topic"] = _once_ms(store.count_by_topic)
        once["iter_recipients(news) all"] = _once_ms(lambda: sum(1 for _ in store.iter_recipients("news")))
        once["delivery_report"] = _once_ms(lambda: store.delivery_report(bid))
    return stats, once


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000,100000", help="subscriber counts, comma-separated")
    parser.add_argument("--ops", type=int, default=1000, help="timed calls per operation")
    parser.add_argument("--sync", default="FULL,NORMAL", help="synchronous modes to compare")
    parser.add_argument("--dir", default=None, help="folder for the temp stores (default: system temp)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    modes = [m.strip().upper() for m in args.sync.split(",") if m.strip()]

    worst: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-opstore-", dir=args.dir) as tmp:
        print(f"python {sys.version.split()[0]}, sqlite {__import__('sqlite3').sqlite_version}, folder {tmp}")
        for size in sizes:
            seed = Path(tmp) / f"seed-{size}.sqlite3"
            print(f"\n== {size:,} subscribers (built in {build(seed, size):.1f}s) ==")
            for sync in modes:
                path = Path(tmp) / f"{size}-{sync}.sqlite3"
                shutil.copy(seed, path)
                stats, once = measure(path, size, args.ops, sync)
                print(f"-- synchronous={sync}")
                print(f"   {'operation':<24}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'n':>7}")
                for s in stats:
                    print(f"   {s.op:<24}{s.p50_ms:>9.3f}{s.p99_ms:>9.3f}{s.max_ms:>9.3f}{s.n:>7}")
                    if s.op in ("subscribe (new)", "unsubscribe", "mark_delivery"):
                        key = f"{s.op} [{sync}]"
                        worst[key] = max(worst.get(key, 0.0), s.p99_ms)
                print("   one-off: " + ", ".join(f"{k} {v:.1f} ms" for k, v in once.items()))
    print("\nbudget: p99 < 10 ms for subscribe, unsubscribe, mark_delivery (worst size)")
    failed = False
    for key, p99 in worst.items():
        ok = p99 < BUDGET_MS
        failed |= not ok
        print(f"   {key:<30} worst p99 {p99:7.3f} ms  {'ok' if ok else 'OVER BUDGET'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
