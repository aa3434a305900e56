"""Per-user flood control: a token bucket per person, consulted by bot/intake.py.

A person who sends faster than the bucket refills is told once; what they send meanwhile is
merged into fewer replies (or, when it cannot be merged, refused with that one notice) until the
bucket has refilled; other people are not affected.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    stamp: float
    warned: bool = False


class FloodGate:
    def __init__(self, per_minute: int = 20, burst: int = 8, clock: Callable[[], float] = time.monotonic,
                 max_users: int = 50_000) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self.max_users = max_users
        self._buckets: dict[int, _Bucket] = {}

    def check(self, user_id: int) -> str:
        """'ok' within the limit; 'warn' over it for the first time in this flood (send the one
        notice); 'drop' over it again (no further notice)."""
        now = self.clock()
        b = self._buckets.get(user_id)
        if b is None:
            if len(self._buckets) >= self.max_users:
                self._evict(now)
            b = self._buckets[user_id] = _Bucket(self.burst, now)
        b.tokens = min(self.burst, b.tokens + (now - b.stamp) * self.rate)
        b.stamp = now
        if b.tokens >= 1.0:
            b.tokens -= 1.0
            if b.tokens >= self.burst / 2:
                b.warned = False
            return "ok"
        if b.warned:
            return "drop"
        b.warned = True
        return "warn"

    def _evict(self, now: float) -> None:
        full = [uid for uid, b in self._buckets.items() if b.tokens + (now - b.stamp) * self.rate >= self.burst]
        for uid in full or list(self._buckets)[: len(self._buckets) // 2]:
            del self._buckets[uid]
