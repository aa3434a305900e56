"""Conditions the bot lives through instead of dying of: storage it cannot write (disk full, a
read-only file system), a store file it cannot re-read.

While a condition lasts the bot keeps answering from memory; the writes that failed are retried
(bot/services.py, bot/polling.py) and the condition clears itself when one succeeds. The log
gets one line when a condition starts and one when it ends, not one per failed write; /stats
and `python -m bot doctor` show it. Nothing here imports Telegram.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
import time
from dataclasses import dataclass

from bot.opstore import OpStoreError
from bot.store import StoreError

log = logging.getLogger("bot.health")

# OSError numbers that mean "the storage is unwell", not "the program is wrong".
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.EDQUOT, errno.EFBIG}


def is_storage_error(exc: BaseException) -> bool:
    """A failed write or read of a file or database we should outlive and retry."""
    if isinstance(exc, (sqlite3.OperationalError, StoreError, OpStoreError)):
        return True
    if isinstance(exc, sqlite3.DatabaseError) and "disk" in str(exc).lower():
        return True
    return isinstance(exc, OSError) and exc.errno in _STORAGE_ERRNOS


def describe(exc: BaseException) -> str:
    """A short, data-free description of a storage error for the log and /stats."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


@dataclass
class Condition:
    what: str  # "state" (the SQLite operational store) or "store" (the post store)
    reason: str
    since: float  # time.time()
    failures: int = 1

    @property
    def label(self) -> str:
        return _NAMES.get(self.what, self.what)


class Health:
    """The storage conditions of this process."""

    def __init__(self) -> None:
        self._conditions: dict[str, Condition] = {}

    def failed(self, what: str, exc: BaseException, *, doing: str = "") -> None:
        """A write (or read) of `what` failed: log it the first time, count it afterwards."""
        found = self._conditions.get(what)
        if found is not None:
            found.failures += 1
            found.reason = describe(exc)
            return
        self._conditions[what] = Condition(what, describe(exc), time.time())
        log.error("%s: %s failed (%s); answering from memory and retrying until it works again",
                  self._conditions[what].label, doing or "a write", describe(exc))

    def ok(self, what: str) -> None:
        """A write of `what` succeeded: the condition, if any, is over."""
        found = self._conditions.pop(what, None)
        if found is not None:
            log.warning("%s works again after %.0f s and %d failed attempt(s)", found.label,
                        time.time() - found.since, found.failures)

    def degraded(self, what: str) -> bool:
        return what in self._conditions

    def conditions(self) -> list[Condition]:
        return list(self._conditions.values())


_NAMES = {"state": "the state database", "store": "the post store"}
