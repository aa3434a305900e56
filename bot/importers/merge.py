"""Which stored post an incoming one is: the de-duplication every import goes through.

Run by the store under its write lock (PostStore.import_records(prepare=...)), against the posts as
they are on disk at that moment, so two importers never give one post two ids.

An incoming post is the stored post
  1. with the same id (JSON and CSV records that carry one), else
  2. with the same address (`url`, compared without scheme, fragment, trailing slash or utm_ tags), else
  3. for a record without an id (feeds, pages, CSV without an id column): of the same date with a
     near-identical title (rapidfuzz ratio >= title_match.min_ratio on lower-cased words, the same
     numbers in both),
and keeps that post's id; otherwise it is new and gets the next free id (w0001, w0002…).

What a source cannot carry is kept from the stored post: translations (`i18n`), tags, alternate
questions, the category staff chose, the address. So a feed that updates a post's text does not
erase its Chinese title, and an import without translations keeps the ones the store has.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit

from rapidfuzz import fuzz, process

from bot.importers.settings import infer_category, tunables
from bot.models import Post

_WORDS = re.compile(r"[^\w]+")
_NUMBERS = re.compile(r"\d+")
KEPT_IF_MISSING = ("tags", "questions", "url")


def url_key(url: str) -> str:
    """The same page however it is written: no scheme, lower-case host, no fragment, trailing slash or utm_ tags."""
    if not url:
        return ""
    parts = urlsplit(url.strip())
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if not k.lower().startswith("utm_")])
    path = parts.path.rstrip("/")
    return f"{parts.netloc.lower()}{path}{'?' + query if query else ''}"


def title_key(title: str) -> str:
    return " ".join(_WORDS.sub(" ", title.casefold()).split())


class _Index:
    """The stored posts by address and by date, and the next free id; grows as the import assigns ids."""

    def __init__(self, current: dict[str, Post], prefix: str) -> None:
        self.posts: dict[str, Post] = current
        self.by_url: dict[str, str] = {}
        self.by_date: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.prefix = prefix
        tail = [int(i[len(prefix):]) for i in current if i.startswith(prefix) and i[len(prefix):].isdigit()]
        self.next_n = max(tail, default=0) + 1
        for post in current.values():
            self.add(post.id, post.url, post.date, post.title)
        cfg = tunables()["title_match"]
        self.min_ratio = float(cfg["min_ratio"])
        self.numbers_must_match = bool(cfg["numbers_must_match"])

    def add(self, pid: str, url: str, day: str, title: str) -> None:
        key = url_key(url)
        if key:
            self.by_url.setdefault(key, pid)
        if day and title:
            self.by_date[day].append((title_key(title), pid))

    def by_title(self, day: str, title: str) -> str | None:
        candidates = self.by_date.get(day)
        if not candidates or not title:
            return None
        wanted = title_key(title)
        best = process.extractOne(wanted, [t for t, _ in candidates], scorer=fuzz.ratio, score_cutoff=self.min_ratio)
        if best is None:
            return None
        found_title, _score, at = best
        if self.numbers_must_match and _NUMBERS.findall(found_title) != _NUMBERS.findall(wanted):
            return None
        return candidates[at][1]

    def new_id(self) -> str:
        while True:
            pid = f"{self.prefix}{self.next_n:04d}"
            self.next_n += 1
            if pid not in self.posts:
                return pid


def preparer(*, id_prefix: str | None = None) -> Callable[[dict[str, Post]], Callable[[object], object]]:
    """The store's `prepare` hook for one import (see the module's docstring)."""
    prefix = id_prefix or tunables()["new_id_prefix"]

    def prepare(current: dict[str, Post]) -> Callable[[object], object]:
        index = _Index(current, prefix)

        def one(raw: object) -> object:
            if not isinstance(raw, dict):
                return raw  # the store rejects it with its reason
            record = {k: v for k, v in raw.items() if not k.startswith("_")}
            rid = record.get("id")
            old = current.get(rid) if isinstance(rid, str) and rid else None
            if old is None:
                found = index.by_url.get(url_key(str(record.get("url") or "")))
                if found is None and not rid:
                    found = index.by_title(str(record.get("date") or ""), str(record.get("title") or ""))
                if found is not None:
                    record["id"], old = found, current.get(found)
                elif not rid:
                    record["id"] = index.new_id()
            if old is not None:
                for key in KEPT_IF_MISSING:
                    if key not in record:
                        record[key] = list(getattr(old, key)) if key != "url" else old.url
                if not record.get("i18n") and old.i18n:
                    record["i18n"] = old.i18n
                record.setdefault("category", old.category)
            if not record.get("category"):
                record["category"] = raw.get("_category") or infer_category(str(record.get("title") or ""),
                                                                          str(record.get("body") or ""))
            if isinstance(record.get("id"), str) and record["id"] not in current:
                index.add(record["id"], str(record.get("url") or ""), str(record.get("date") or ""),
                          str(record.get("title") or ""))
            return record

        return one

    return prepare
