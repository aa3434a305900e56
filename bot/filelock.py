"""The post store's write lock: one writer at a time across processes (bot, CLI, importer).

An exclusive fcntl.flock on `<store>.write.lock`, held only for the length of one write
(re-read, change, atomic replace). The kernel releases it when the holder dies, so a killed
writer never leaves the store locked. This is not bot/lock.py's instance lock, which one bot
process holds for its whole life so that two bots never poll for the same store.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PRIVATE_FILE = 0o600  # new files the bot creates: the owner only
PRIVATE_DIR = 0o700


class LockError(RuntimeError):
    """The lock cannot be taken: its file cannot be created, or another holder kept it too long."""


class LockTimeout(LockError):
    """Another writer held the lock for longer than the caller was willing to wait."""


def open_private(path: Path, flags: int = os.O_RDWR | os.O_CREAT) -> int:
    """Open (creating if needed) a file that only the owner may read or write."""
    return os.open(path, flags, PRIVATE_FILE)


@contextmanager
def exclusive(path: Path, *, timeout: float = 30.0, poll: float = 0.02) -> Iterator[None]:
    """Hold an exclusive flock on `path` (created 0600) for the body of the with-block."""
    try:
        fd = open_private(path)
    except OSError as exc:
        raise LockError(f"cannot create the lock file {path}: {exc.strerror}") from None
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise LockTimeout(f"another process has held {path} for more than {timeout:.0f}s") from None
                time.sleep(poll)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def try_exclusive(path: Path) -> int | None:
    """Take the lock only if it is free at once; returns the fd to pass to release(), or None."""
    try:
        fd = open_private(path)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def release(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
