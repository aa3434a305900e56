"""The post and contact store: TinyDB on a crash-safe storage, many writers, an in-memory snapshot.

Why this shape:
- TinyDB's JSONStorage rewrites the file in place, so a kill mid-write leaves half a file.
  AtomicJSONStorage writes a temp file, fsyncs it, renames it over the old one and fsyncs the
  folder: a reader sees the old file or the new one, never a mix, and a write that returned
  is on disk (no CachingMiddleware, which holds acknowledged writes in memory).
- Several processes write: the running bot (staff /post), `python -m bot import`, `post add`.
  Every write takes the store's write lock (bot/filelock.py, `<store>.write.lock`), re-reads the
  file if another process replaced it, applies its change to that fresh copy and replaces the
  file, all under the lock; new post ids are allocated under it too. So no writer rewrites the
  file from a stale memory and two writers never hand out the same id.
- TinyDB re-parses the whole file on every read, so the store reads once at open and keeps an
  immutable snapshot; the matcher indexes that snapshot and is told when it changes, whether by
  a write of this process or, through refresh(), by another process (the bot calls it every 2 s;
  it costs one stat() when nothing changed: every write replaces the file, so a new inode, size
  or mtime means a new file).
- The file records its layout (`_meta`: schema, and a version counted up by every write), so
  a program reading a newer layout refuses it instead of misreading it, and a later database
  store (PostgreSQL) can take over behind the same PostRepository interface.
- Access from one thread per process (the event loop or the CLI).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, TypeVar

from tinydb import TinyDB
from tinydb.storages import Storage

from bot.filelock import PRIVATE_DIR, PRIVATE_FILE, LockError, exclusive, release, try_exclusive
from bot.models import (
    Contact,
    ImportReport,
    Post,
    RecordError,
    contact_from_record,
    post_from_record,
)

POSTS, CONTACTS, META = "posts", "contacts", "_meta"
SCHEMA = 1  # the file's layout: {"posts": {...}, "contacts": {...}, "_meta": {"1": {"schema", "version"}}}
LOCK_TIMEOUT_S = 30.0  # a writer waits this long for another one (a 100,000-post import takes a few seconds)
T = TypeVar("T")
Signature = tuple[int, int, int, int]  # device, inode, size, mtime in ns: which file the snapshot came from


class StoreError(RuntimeError):
    """The store file cannot be opened or read; start-up must stop rather than go on empty."""


class PostRepository(Protocol):
    """Everything the bot, the CLI and the importers do with posts and contacts."""

    def posts(self) -> list[Post]: ...
    def contacts(self) -> list[Contact]: ...
    def post(self, post_id: str) -> Post | None: ...
    def contact(self, contact_id: str) -> Contact | None: ...
    def on_change(self, listener: Callable[[], None]) -> None: ...
    def refresh(self) -> bool: ...
    def upsert_posts(self, raws: Iterable[object], *, source: str = "",
                     progress: Callable[[int], None] | None = None) -> ImportReport: ...
    def upsert_contacts(self, raws: Iterable[object]) -> ImportReport: ...
    def import_records(self, posts: Iterable[object], contacts: Iterable[object], *, source: str = "",
                       progress: Callable[[int], None] | None = None) -> tuple[ImportReport, ImportReport]: ...
    def edit_post(self, post_id: str, change: Callable[[dict], dict], *, source: str = "") -> Post: ...
    def add_post(self, raw: dict, *, source: str = "staff", id_prefix: str | None = None) -> Post: ...
    def delete_post(self, post_id: str) -> bool: ...
    def next_post_id(self, prefix: str = "m") -> str: ...
    def close(self) -> None: ...


class AtomicJSONStorage(Storage):
    """TinyDB storage that replaces the file atomically on every write and keeps UTF-8 readable."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def read(self) -> dict | None:
        return self.read_with_signature()[0]

    def read_with_signature(self) -> tuple[dict, Signature]:
        """The file's tables and which file they came from (fstat of the very file read)."""
        try:
            with open(self.path, "rb") as f:
                signature = _signature(os.fstat(f.fileno()))
                raw = f.read()
        except FileNotFoundError:
            raise StoreError(f"store file {self.path} does not exist") from None
        except OSError as exc:
            raise StoreError(f"cannot read store file {self.path}: {exc.strerror}") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise StoreError(f"store file {self.path} is not a UTF-8 JSON file: restore it from a backup") from None
        if not text.strip():
            raise StoreError(f"store file {self.path} is empty; restore it from a backup")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise StoreError(f"store file {self.path} is not valid JSON (line {exc.lineno}): restore it") from None
        if not isinstance(data, dict):
            raise StoreError(f"store file {self.path} does not hold TinyDB tables")
        return data, signature

    def write(self, data: dict) -> None:
        atomic_write_text(self.path, json.dumps(data, ensure_ascii=False, indent=1))


def _signature(st: os.stat_result) -> Signature:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def temp_prefix(path: Path) -> str:
    return f".{path.name}."


def atomic_write_text(path: Path, text: str) -> None:
    """Write text so that a crash leaves either the old file or the new one, both whole.

    A new file is created 0600 (the owner only); an existing one keeps its permissions."""
    folder = path.parent
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=".tmp", dir=folder)
    try:
        try:
            mode = os.stat(path).st_mode & 0o777
        except FileNotFoundError:
            mode = PRIVATE_FILE
        os.fchmod(fd, mode)
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
    """Posts and contacts, validated on the way in, served from memory, written under the write lock."""

    def __init__(self, path: str | os.PathLike, *, create: bool = False, lock_timeout: float = LOCK_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".write.lock")
        self.lock_timeout = lock_timeout
        self._listeners: list[Callable[[], None]] = []
        self._posts: dict[str, Post] = {}
        self._contacts: dict[str, Contact] = {}
        self._other: dict = {}  # tables this program does not know: carried over on every write
        self._version = 0
        self._signature: Signature | None = None
        if not self.path.exists():
            if not create:
                raise StoreError(f"store file {self.path} does not exist")
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
            try:
                with self._locked():
                    if not self.path.exists():
                        AtomicJSONStorage(self.path).write({META: {"1": {"schema": SCHEMA, "version": 0}}})
            except LockError as exc:
                raise StoreError(f"cannot create store {self.path}: {exc}") from None
        self._db = TinyDB(self.path, storage=AtomicJSONStorage)
        self._load()
        self._sweep_if_free()

    # -- reading -------------------------------------------------------------
    def _load(self) -> None:
        data, signature = self._db.storage.read_with_signature()
        meta = next(iter((data.pop(META, None) or {}).values()), {}) or {}
        schema = meta.get("schema", SCHEMA) if isinstance(meta, dict) else SCHEMA
        if not isinstance(schema, int) or schema > SCHEMA:
            raise StoreError(f"store {self.path} has layout (schema) {schema!r}, newer than this program's "
                             f"{SCHEMA}: upgrade the bot or restore an older file")
        posts: dict[str, Post] = {}
        contacts: dict[str, Contact] = {}
        # Read the tables straight from the storage and drop each raw record once converted: TinyDB's
        # Table.all() would copy every record, doubling peak memory on a 100,000-post store.
        raw_posts = list((data.pop(POSTS, None) or {}).values())
        raw_contacts = list((data.pop(CONTACTS, None) or {}).values())
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
        self._posts, self._contacts, self._other = posts, contacts, data
        self._version = int(meta.get("version", 0)) if isinstance(meta, dict) else 0
        self._signature = signature

    def posts(self) -> list[Post]:
        return list(self._posts.values())

    def contacts(self) -> list[Contact]:
        return list(self._contacts.values())

    def post(self, post_id: str) -> Post | None:
        return self._posts.get(post_id)

    def contact(self, contact_id: str) -> Contact | None:
        return self._contacts.get(contact_id)

    @property
    def version(self) -> int:
        """How many writes the file has seen (every writer counts it up under the write lock)."""
        return self._version

    def on_change(self, listener: Callable[[], None]) -> None:
        """Register a callback run after the snapshot changed: a write here, or a refresh that
        found another process's write (the matcher re-indexes)."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    def _stale(self) -> bool:
        try:
            return _signature(os.stat(self.path)) != self._signature
        except OSError:
            return False  # a store being replaced or gone for a moment: keep the snapshot

    def refresh(self) -> bool:
        """Re-read the file if another process replaced it; True when it did (listeners have run).

        Raises StoreError if the new file cannot be read; the old snapshot stays in use."""
        if not self._stale():
            return False
        self._load()
        self._changed()
        return True

    # -- writing -------------------------------------------------------------
    def _locked(self):
        return exclusive(self.lock_path, timeout=self.lock_timeout)

    def _write(self, change: Callable[[dict, dict], tuple[dict | None, dict | None, T]]) -> T:
        """Under the write lock: catch up with the file, apply `change` to fresh copies of the
        tables, and replace the file if a table changed. `change` returns (posts or None,
        contacts or None, result); None means that table is unchanged."""
        reloaded = wrote = False
        try:
            with self._locked():
                if self._stale():
                    self._load()
                    reloaded = True
                self._sweep_temp_files()
                posts, contacts, result = change(dict(self._posts), dict(self._contacts))
                if posts is not None or contacts is not None:
                    posts = self._posts if posts is None else posts
                    contacts = self._contacts if contacts is None else contacts
                    data = {**self._other,
                            POSTS: {str(i + 1): p.to_record() for i, p in enumerate(posts.values())},
                            CONTACTS: {str(i + 1): c.to_record() for i, c in enumerate(contacts.values())},
                            META: {"1": {"schema": SCHEMA, "version": self._version + 1}}}
                    self._db.storage.write(data)
                    del data
                    self._signature = _signature(os.stat(self.path))
                    self._version += 1
                    self._posts, self._contacts = posts, contacts
                    wrote = True
        except LockError as exc:
            raise StoreError(f"store {self.path}: {exc}") from None
        finally:
            if reloaded or wrote:
                self._changed()
        return result

    def upsert_posts(self, raws: Iterable[object], *, source: str = "", progress: Callable[[int], None] | None = None) -> ImportReport:
        """Validate and add or replace posts by id, in one atomic write. Bad records are reported, not stored."""
        return self.import_records(raws, (), source=source, progress=progress)[0]

    def upsert_contacts(self, raws: Iterable[object]) -> ImportReport:
        """Validate and add or replace contacts by id, in one atomic write."""
        return self.import_records((), raws)[1]

    def import_records(self, posts: Iterable[object], contacts: Iterable[object], *, source: str = "",
                       progress: Callable[[int], None] | None = None) -> tuple[ImportReport, ImportReport]:
        """Posts and contacts together in one atomic write: a kill leaves all of the import or none."""
        stamp = _post_stamper(source)

        def change(current_posts: dict, current_contacts: dict):
            post_report, staged_posts = _stage(posts, post_from_record, current_posts, stamp, progress)
            contact_report, staged_contacts = _stage(contacts, contact_from_record, current_contacts,
                                                     lambda contact, old: None if old == contact else contact)
            return ({**current_posts, **staged_posts} if staged_posts else None,
                    {**current_contacts, **staged_contacts} if staged_contacts else None,
                    (post_report, contact_report))

        return self._write(change)

    def add_post(self, raw: dict, *, source: str = "staff", id_prefix: str | None = None) -> Post:
        """Add one new post (staff publishing); raises RecordError if invalid or the id is taken.

        With id_prefix, the id is allocated under the write lock (the next free m0001, m0002…), so
        two processes publishing at once get different ids."""
        stamp = _post_stamper(source)

        def change(current: dict, _contacts: dict):
            record = dict(raw)
            if id_prefix is not None:
                record["id"] = _next_id(current, id_prefix)
            post = post_from_record(record)
            if post.id in current:
                raise RecordError(f"record id={post.id!r}: field 'id' is already used by another post")
            report, staged = _stage([record], post_from_record, current, stamp)
            if report.rejected:
                raise RecordError(report.rejected[0])
            return {**current, **staged}, None, staged[post.id]

        return self._write(change)

    def edit_post(self, post_id: str, change: Callable[[dict], dict], *, source: str = "") -> Post:
        """Change one stored post under the write lock: `change` gets its record as it is on disk now and
        returns the new record (validated; provenance kept, updated_at stamped). KeyError if there is none."""
        stamp = _post_stamper(source)

        def apply(current: dict, _contacts: dict):
            old = current.get(post_id)
            if old is None:
                raise KeyError(post_id)
            post = post_from_record(change(old.to_record()))
            if post.id != post_id:
                raise RecordError(f"record id={post_id!r}: field 'id' cannot be changed")
            stamped = stamp(post, old)
            if stamped is None:
                return None, None, old
            return {**current, post_id: stamped}, None, stamped

        return self._write(apply)

    def delete_post(self, post_id: str) -> bool:
        def change(current: dict, _contacts: dict):
            if current.pop(post_id, None) is None:
                return None, None, False
            return current, None, True

        return self._write(change)

    def next_post_id(self, prefix: str = "m") -> str:
        """The id the next staff post would get now (for a preview; add_post allocates it for real)."""
        return _next_id(self._posts, prefix)

    def _sweep_temp_files(self) -> None:
        """Remove temp files of writes that were killed: only called under the write lock, so no
        other writer is between mkstemp and rename."""
        for leftover in self.path.parent.glob(temp_prefix(self.path) + "*.tmp"):
            try:
                leftover.unlink()
            except OSError:
                pass

    def _sweep_if_free(self) -> None:
        """At open: remove leftovers of killed writes if there are any and no writer is busy."""
        if not any(self.path.parent.glob(temp_prefix(self.path) + "*.tmp")):
            return
        fd = try_exclusive(self.lock_path) if os.access(self.path.parent, os.W_OK) else None
        if fd is not None:
            try:
                self._sweep_temp_files()
            finally:
                release(fd)

    def close(self) -> None:
        self._db.close()


def _next_id(posts: dict, prefix: str) -> str:
    n = 1 + max((int(i[len(prefix):]) for i in posts if i.startswith(prefix) and i[len(prefix):].isdigit()),
                default=0)
    return f"{prefix}{n:04d}"


def _post_stamper(source: str) -> Callable[[Post, Post | None], Post | None]:
    """Provenance for a staged post: where it came from, when it entered and last changed."""
    now = _now()

    def stamp(post: Post, old: Post | None) -> Post | None:
        if old is not None and _same_content(old.to_record(), post.to_record()):
            return None
        record = post.to_record()
        record["source"] = post.source or source or (old.source if old else "")
        record["imported_at"] = (old.imported_at if old else "") or post.imported_at or now
        record["updated_at"] = now if old else (post.updated_at or now)
        return post_from_record(record)

    return stamp


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
