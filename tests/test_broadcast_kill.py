"""A real crash test: SIGKILL a broadcasting process three times, restart it, let it finish.

The worker (tests/broadcast_worker.py) "delivers" by appending the chat id to a log with fsync.
After three kills and a final run, every subscriber must appear in the log (nobody missed) and
at most one message per kill may repeat (the one in flight when the process died).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from bot.opstore import SQLiteOperationalStore

ROOT = Path(__file__).resolve().parent.parent
WORKER = ROOT / "tests" / "broadcast_worker.py"
N = 300
KILLS = 3
RATE = 200.0


def _lines(log: Path) -> list[int]:
    if not log.exists():
        return []
    return [int(x) for x in log.read_text().split()]


def _start(db: Path, log: Path, bid: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(db), str(log), str(bid), "--rate", str(RATE)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill_mid_broadcast(proc: subprocess.Popen, log: Path, rng: random.Random) -> tuple[int, float]:
    """Wait until this run has delivered something, then SIGKILL it at a random moment."""
    before = len(_lines(log))
    deadline = time.monotonic() + 10
    while len(_lines(log)) == before:
        assert proc.poll() is None, f"worker exited early: {proc.communicate()}"
        assert time.monotonic() < deadline, "worker delivered nothing in 10 s"
        time.sleep(0.005)
    delay = rng.uniform(0.0, 0.25)
    time.sleep(delay)
    assert proc.poll() is None, "worker finished before the kill; the test would prove nothing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=5)
    assert proc.returncode == -signal.SIGKILL
    return len(_lines(log)) - before, delay


@pytest.mark.slow
def test_sigkill_three_times_misses_nobody_and_repeats_at_most_one_per_kill(tmp_path):
    seed = int(os.environ.get("KILL_TEST_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    db, log = tmp_path / "ops.sqlite3", tmp_path / "delivered.log"
    with SQLiteOperationalStore(db) as store:
        with store.transaction():
            for chat in range(1, N + 1):
                store.subscribe(chat)
        bid = store.create_broadcast(1, "announcements", "<b>Office hours change</b>")

    started = time.monotonic()
    runs = []
    for _ in range(KILLS):
        runs.append(_kill_mid_broadcast(_start(db, log, bid), log, rng))

    final = _start(db, log, bid)
    out, err = final.communicate(timeout=20)
    assert final.returncode == 0, err
    elapsed = time.monotonic() - started

    counts = Counter(_lines(log))
    missed = sorted(set(range(1, N + 1)) - set(counts))
    duplicates = {chat: n - 1 for chat, n in counts.items() if n > 1}
    print(
        f"\nkill test seed={seed}: per-run deliveries before kill {[r[0] for r in runs]}, "
        f"kill delays {[round(r[1], 3) for r in runs]}, final run {out.strip()}, "
        f"missed={len(missed)}, duplicates={sum(duplicates.values())} {duplicates}, {elapsed:.1f}s"
    )
    assert missed == [], f"seed {seed}: missed {missed[:20]}"
    assert sum(duplicates.values()) <= KILLS, f"seed {seed}: duplicates {duplicates}"
    assert all(n == 1 for n in duplicates.values())
    assert set(counts) == set(range(1, N + 1))  # nobody outside the list

    with SQLiteOperationalStore(db) as store:
        info = store.broadcast(bid)
        assert (info.state, info.sent, info.failed, info.pending) == ("done", N, 0, 0)
        assert store._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert elapsed < 20
