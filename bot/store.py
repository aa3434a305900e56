"""The post and contact store: TinyDB on a crash-safe storage, one writer, an in-memory snapshot.

Why this shape:
- TinyDB's JSONStorage rewrites the file in place, so a kill mid-write leaves half a file.
  AtomicJSONStorage writes a temp file, fsyncs it, renames it over the old one and fsyncs the
  folder: a reader sees the old file or the new one, never a mix, and a write that returned
  is on disk (no CachingMiddleware, which holds acknowledged writes in memory).
- TinyDB re-parses the whole file on every read, so the store reads once at open and keeps an
  immutable snapshot; the matcher indexes that snapshot and is told when it changes.
- All access goes through PostStore, called from one thread (the event loop or the CLI).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from tinydb import TinyDB
from tinydb.storages import Storage

from bot.models import (
    Contact,
    ImportReport,
    Post,
    RecordError,
    contact_from_record,
    post_from_record,
)

POSTS, CONTACTS = "posts", "contacts"


class StoreError(RuntimeError):
    """The store file cannot be opened or read; start-up must stop rather than go on empty."""


class AtomicJSONStorage(Storage):
    """TinyDB storage that replaces the file atomically on every write and keeps UTF-8 readable."""

    def __init__(self, path: str | os.PathLike, create: bool = False) -> None:
        self.path = Path(path)
        if not self.path.exists():
            if not create:
                raise StoreError(f"store file {self.path} does not exist")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.write({})

    def read(self) -> dict | None:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise StoreError(f"cannot read store file {self.path}: {exc.strerror}") from None
        if not raw.strip():
            raise StoreError(f"store file {self.path} is empty; restore it from a backup")
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise StoreError(f"store file {self.path} is not valid JSON (line {exc.lineno}): restore it") from None
        if not isinstance(data, dict):
            raise StoreError(f"store file {self.path} does not hold TinyDB tables")
        return data

    def write(self, data: dict) -> None:
        atomic_write_text(self.path, json.dumps(data, ensure_ascii=False, indent=1))


def atomic_write_text(path: Path, text: str) -> None:
    """Write text so that a crash leaves either the old file or the new one, both whole."""
    folder = path.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        try:
            mode = os.stat(path).st_mode & 0o777
        except FileNotFoundError:
            mode = 0o644
        os.fchmod(fd, mode)  # mkstemp makes 0600; keep the store's own permissions
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


class PostStore:
    """Posts and contacts, validated on the way in, served from memory."""

    def __init__(self, path: str | os.PathLike, *, create: bool = False) -> None:
        self.path = Path(path)
        self._db = TinyDB(self.path, storage=AtomicJSONStorage, create=create)
        self._listeners: list[Callable[[], None]] = []
        self._load()

    # -- reading -------------------------------------------------------------
    def _load(self) -> None:
        posts: dict[str, Post] = {}
        contacts: dict[str, Contact] = {}
        # Read the tables straight from the storage and drop each raw record once converted: TinyDB's
        # Table.all() would copy every record, doubling peak memory on a 100,000-post store.
        data = self._db.storage.read() or {}
        raw_posts = list((data.pop(POSTS, None) or {}).values())
        raw_contacts = list((data.pop(CONTACTS, None) or {}).values())
        del data
        raw_posts.reverse()
        i = 0
        while raw_posts:
            raw = raw_posts.pop()
            try:
                post = post_from_record(raw, i)
            except RecordError as exc:
                raise StoreError(f"store {self.path}: {exc}") from None
            posts[post.id] = post
            i += 1
        for i, raw in enumerate(raw_contacts):
            try:
                contact = contact_from_record(raw, i)
            except RecordError as exc:
                raise StoreError(f"store {self.path}: {exc}") from None
            contacts[contact.id] = contact
        self._posts = posts
        self._contacts = contacts

    def posts(self) -> list[Post]:
        return list(self._posts.values())

    def contacts(self) -> list[Contact]:
        return list(self._contacts.values())

    def post(self, post_id: str) -> Post | None:
        return self._posts.get(post_id)

    def contact(self, contact_id: str) -> Contact | None:
        return self._contacts.get(contact_id)

    def on_change(self, listener: Callable[[], None]) -> None:
        """Register a callback run after every committed write (the matcher re-indexes)."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    # -- writing -------------------------------------------------------------
    def upsert_posts(self, raws: Iterable[object], *, source: str = "", progress: Callable[[int], None] | None = None) -> ImportReport:
        """Validate and add or replace posts by id, in one atomic write. Bad records are reported, not stored."""
        now = _now()

        def stamp(post: Post, old: Post | None) -> Post | None:
            if old is not None and _same_content(old.to_record(), post.to_record()):
                return None
            record = post.to_record()
            record["source"] = post.source or source or (old.source if old else "")
            record["imported_at"] = (old.imported_at if old else "") or post.imported_at or now
            record["updated_at"] = now if old else (post.updated_at or now)
            return post_from_record(record)

        report, staged = _stage(raws, post_from_record, self._posts, stamp, progress)
        if staged:
            self._write_table(POSTS, {**self._posts, **staged}.values())
            self._posts.update(staged)
            self._changed()
        return report

    def upsert_contacts(self, raws: Iterable[object]) -> ImportReport:
        """Validate and add or replace contacts by id, in one atomic write."""
        report, staged = _stage(raws, contact_from_record, self._contacts,
                                lambda contact, old: None if old == contact else contact)
        if staged:
            self._write_table(CONTACTS, {**self._contacts, **staged}.values())
            self._contacts.update(staged)
            self._changed()
        return report

    def add_post(self, raw: dict, *, source: str = "staff") -> Post:
        """Add one new post (staff publishing); raises RecordError if invalid or the id is taken."""
        post = post_from_record(raw)
        if post.id in self._posts:
            raise RecordError(f"record id={post.id!r}: field 'id' is already used by another post")
        report = self.upsert_posts([raw], source=source)
        if report.rejected:
            raise RecordError(report.rejected[0])
        return self._posts[post.id]

    def delete_post(self, post_id: str) -> bool:
        if post_id not in self._posts:
            return False
        remaining = {k: v for k, v in self._posts.items() if k != post_id}
        self._write_table(POSTS, remaining.values())
        self._posts = remaining
        self._changed()
        return True

    def next_post_id(self, prefix: str = "m") -> str:
        n = 1 + max((int(p.id[len(prefix):]) for p in self._posts.values()
                     if p.id.startswith(prefix) and p.id[len(prefix):].isdigit()), default=0)
        return f"{prefix}{n:04d}"

    def _write_table(self, name: str, records: Iterable[Post | Contact]) -> None:
        # One storage write for the whole table: TinyDB's per-document API would rewrite the
        # file once per record. Other tables are carried over untouched.
        data = self._db.storage.read() or {}
        data[name] = {str(i + 1): r.to_record() for i, r in enumerate(records)}
        self._db.storage.write(data)

    def close(self) -> None:
        self._db.close()


def _stage(raws: Iterable[object], parse: Callable, current: dict, change: Callable,
           progress: Callable[[int], None] | None = None) -> tuple[ImportReport, dict]:
    """Validate records and decide, per id, added / updated / unchanged / rejected (with the reason).

    `change(new, old)` returns the record to store, or None when nothing changed."""
    report = ImportReport()
    staged: dict = {}
    for i, raw in enumerate(raws):
        if progress:
            progress(1)
        try:
            record = parse(raw, i)
        except RecordError as exc:
            report.rejected.append(str(exc))
            continue
        if record.id in staged:
            report.rejected.append(f"record #{i} id={record.id!r}: field 'id' repeats an earlier record in this import")
            continue
        old = current.get(record.id)
        changed = change(record, old)
        if changed is None:
            report.unchanged += 1
            continue
        staged[record.id] = changed
        if old is None:
            report.added += 1
        else:
            report.updated += 1
    return report, staged


def _same_content(a: dict, b: dict) -> bool:
    skip = {"source", "imported_at", "updated_at"}
    return {k: v for k, v in a.items() if k not in skip} == {k: v for k, v in b.items() if k not in skip}
