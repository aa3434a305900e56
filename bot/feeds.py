"""Keeping the news fresh: the sources of BOT_FEED_URLS read every BOT_FEED_INTERVAL.

Each run reads the sources one at a time (bot/importers: RSS, Atom, a blog page or list page, JSON,
CSV), imports what is new or changed through the store's locked path with the importers'
de-duplication, and records per source in the operational store when it last worked, its last
error and how many failures in a row. A source that is down, slow, serves an HTML page instead of
a feed or garbage is logged and tried again later with backoff (the interval, then 2x, 4x… up to
6 hours); an import only adds and updates, so a failed or empty run never shrinks the store.

New posts (not those of a source's first run, at most a few per run, only recent ones) are chosen
for announcement when the source's mode says so: "preview" (staff confirm each one) or "auto";
the Telegram side (handlers/feeds.py) sends the previews or starts the broadcasts. No Telegram here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from bot.config import Settings
from bot.importers import SourceError, import_batch, load
from bot.importers.merge import url_key
from bot.importers.settings import tunables
from bot.models import Post
from bot.opstore import FeedSourceState, OperationalStore
from bot.store import PostStore, StoreError

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 6 * 3600.0
DUE_TOLERANCE = 0.05  # a run that fires a moment before a source's next attempt still takes it


@dataclass
class SourceRun:
    """What one run did with one source."""

    url: str
    status: str  # "ok", "not_modified", "failed", "waiting" (in backoff), "busy" (another run is on)
    name: str = ""
    mode: str = "off"  # the announce mode in force
    added_ids: list[str] = field(default_factory=list)
    updated: int = 0
    unchanged: int = 0
    rejected: list[str] = field(default_factory=list)
    error: str = ""
    to_announce: list[str] = field(default_factory=list)  # post ids to announce (preview or auto)
    posts_before: int = 0
    posts_after: int = 0


def backoff_s(failures: int, interval_s: float) -> float:
    """Seconds until the next try after `failures` failures in a row: the interval, then 2x, 4x…, at most 6 h
    (or the interval, if that is longer)."""
    return min(interval_s * 2 ** max(0, failures - 1), max(interval_s, MAX_BACKOFF_S))


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="seconds")


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class FeedRefresher:
    """Reads the configured sources; one run at a time per process."""

    def __init__(self, store: PostStore, ops: OperationalStore, settings: Settings, *,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.store, self.ops, self.settings = store, ops, settings
        self.clock = clock or (lambda: datetime.now(UTC))
        self._lock = asyncio.Lock()

    @property
    def urls(self) -> tuple[str, ...]:
        return self.settings.feed_urls

    def mode(self, url: str, state: FeedSourceState | None = None) -> str:
        """The announce mode in force: staff's choice (/feed_announce) or BOT_FEED_ANNOUNCE."""
        state = state if state is not None else self.ops.feed_source(url)
        return (state.announce if state is not None and state.announce else None) or \
            self.settings.feed_announce_for(url)

    async def refresh(self, *, force: bool = False) -> list[SourceRun]:
        """Read every source that is due (all with force), one at a time. Another run in progress: []."""
        if self._lock.locked():
            return [SourceRun(url, "busy") for url in self.urls]
        async with self._lock:
            return [await self._one(url, force=force) for url in self.urls]

    async def _one(self, url: str, *, force: bool) -> SourceRun:
        now = self.clock()
        state = self.ops.feed_source(url) or FeedSourceState(url)
        mode = self.mode(url, state)
        due_at = _parse(state.next_attempt_at)
        tolerance = timedelta(seconds=self.settings.feed_interval_s * DUE_TOLERANCE)
        if not force and due_at is not None and now < due_at - tolerance:
            return SourceRun(url, "waiting", name=state.name, mode=mode, error=state.last_error)
        run = SourceRun(url, "ok", name=state.name, mode=mode)
        try:
            self._catch_up()
            run.posts_before = len(self.store.posts())
            batch = await load(url, timeout=self.settings.feed_timeout_s, etag=state.etag,
                               last_modified=state.last_modified, delay=None, expect=state.format,
                               known=self._known())
            fetched = batch.fetched
            if fetched is not None and fetched.not_modified:
                run.status = "not_modified"
            else:
                batch.contacts = []  # a news source brings posts; contacts come from staff imports only
                if batch.rejected and not batch.posts:
                    raise SourceError(f"nothing readable: {len(batch.rejected)} item(s) rejected, the first: "
                                      f"{batch.rejected[0]}")
                run.name = batch.source
                report, _ = import_batch(self.store, batch)
                run.added_ids, run.updated, run.unchanged = report.added_ids, report.updated, report.unchanged
                run.rejected = report.rejected
            run.posts_after = len(self.store.posts())
        except (SourceError, StoreError) as exc:
            return self._failed(run, state, now, str(exc))
        except Exception as exc:  # a bug or a library's surprise must not stop the schedule
            log.exception("feed %s: unexpected error", url)
            return self._failed(run, state, now, f"{type(exc).__name__}: {exc}")
        if run.posts_after < run.posts_before:  # cannot happen (imports only add and update): say so loudly
            log.error("feed %s: the store holds %d posts after the run, %d before", url, run.posts_after,
                      run.posts_before)
        if run.rejected:
            log.warning("feed %s: %d item(s) rejected, e.g. %s", url, len(run.rejected), run.rejected[0])
        first_run = state.last_success_at is None
        if mode != "off" and not first_run:
            run.to_announce = self._choose(run.added_ids, now)
        self.ops.save_feed_source(replace(
            state, name=run.name or state.name, format=batch.format or state.format, last_attempt_at=_iso(now), last_success_at=_iso(now), failures=0,
            next_attempt_at=None,
            etag=(fetched.etag if fetched is not None and fetched.etag else state.etag),
            last_modified=(fetched.last_modified if fetched is not None and fetched.last_modified else
                           state.last_modified),
            last_added=len(run.added_ids), last_updated=run.updated,
            last_seen=len(run.added_ids) + run.updated + run.unchanged if run.status == "ok" else state.last_seen,
            imported_total=state.imported_total + len(run.added_ids)))
        if run.status == "ok" and (run.added_ids or run.updated):
            log.info("feed %s: %d new, %d updated, %d unchanged post(s)%s", url, len(run.added_ids), run.updated,
                     run.unchanged, f"; {len(run.to_announce)} to announce ({mode})" if run.to_announce else "")
        else:
            log.debug("feed %s: nothing new (%s)", url, run.status)
        return run

    def _known(self) -> Callable[[str], bool]:
        """Whether a list page's link is a post the store has (built on first use: feeds never ask)."""
        keys: set[str] | None = None

        def known(link: str) -> bool:
            nonlocal keys
            if keys is None:
                keys = {url_key(p.url) for p in self.store.posts() if p.url}
            return url_key(link) in keys

        return known

    def _catch_up(self) -> None:
        try:
            self.store.refresh()  # posts another process wrote, so matching sees them
        except StoreError as exc:
            raise StoreError(f"the post store cannot be read: {exc}") from None

    def _failed(self, run: SourceRun, state: FeedSourceState, now: datetime, error: str) -> SourceRun:
        failures = state.failures + 1
        wait = backoff_s(failures, self.settings.feed_interval_s)
        next_at = now + timedelta(seconds=wait)
        log.warning("feed %s failed (%d in a row): %s; next try at %s", run.url, failures, error,
                    next_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))
        self.ops.save_feed_source(replace(state, last_attempt_at=_iso(now), last_error=error, last_error_at=_iso(now),
                                          failures=failures, next_attempt_at=_iso(next_at)))
        run.status, run.error = "failed", error
        return run

    def _choose(self, added_ids: list[str], now: datetime) -> list[str]:
        """The newest few recent posts of this run (see data/importing.json "announce")."""
        cfg = tunables()["announce"]
        oldest = (now.astimezone(UTC) - timedelta(days=int(cfg["max_age_days"]))).date().isoformat()
        posts: list[Post] = [p for p in (self.store.post(i) for i in added_ids) if p is not None and p.date >= oldest]
        posts.sort(key=lambda p: (p.date, p.id), reverse=True)
        return [p.id for p in posts[: int(cfg["max_per_run"])]]




# -- what staff read (/feeds, /stats, doctor) ---------------------------------------------------

def source_states(ops: OperationalStore, settings: Settings) -> list[tuple[str, FeedSourceState, str]]:
    """(url, state, announce mode) of each source of BOT_FEED_URLS, in that order."""
    out = []
    for url in settings.feed_urls:
        state = ops.feed_source(url) or FeedSourceState(url)
        out.append((url, state, state.announce or settings.feed_announce_for(url)))
    return out


def _when(value: str | None, lang: str) -> str:
    from bot.announce import format_when
    from bot.i18n import t

    return format_when(datetime.fromisoformat(value)) if value else t(lang, "staff_feed_never")


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def status_text(ops: OperationalStore, settings: Settings, lang: str = "en") -> str:
    """/feeds: each source with its last success, last error, failures in a row and announce mode."""
    from html import escape

    from bot.i18n import t, tmap

    states = source_states(ops, settings)
    if not states:
        return t(lang, "staff_feeds_none")
    modes = tmap(lang, "staff_feed_modes")
    lines = [t(lang, "staff_feeds_heading", interval=_duration(settings.feed_interval_s))]
    for n, (url, state, mode) in enumerate(states, start=1):
        error = escape(state.last_error) if state.last_error else t(lang, "staff_feed_no_error")
        if state.last_error_at:
            error += f" ({_when(state.last_error_at, lang)})"
        lines += ["", t(lang, "staff_feeds_line", n=str(n), name=escape(state.name or url), url=escape(url),
                        success=_when(state.last_success_at, lang), error=error,
                        mode=escape(modes.get(mode, mode)))]
        if state.failures:
            lines.append(t(lang, "staff_feeds_failing", failures=str(state.failures),
                           next=_when(state.next_attempt_at, lang)))
    lines += ["", t(lang, "staff_feeds_hint")]
    return "\n".join(lines)


def stats_lines(ops: OperationalStore, settings: Settings, lang: str = "en") -> list[str]:
    """The /stats block: one line per source (last success, last error); nothing without sources."""
    from html import escape

    from bot.i18n import t

    states = source_states(ops, settings)
    if not states:
        return []
    lines = ["", t(lang, "staff_stats_feeds")]
    for url, state, _mode in states:
        error = escape(state.last_error) if state.last_error else t(lang, "staff_feed_no_error")
        lines.append(t(lang, "staff_stats_feed_line", name=escape(state.name or url),
                       success=_when(state.last_success_at, lang), error=error,
                       failures=str(state.failures)))
    return lines


def run_summary(run: SourceRun, lang: str = "en") -> str:
    """One line per source after /feed_refresh."""
    from html import escape

    from bot.i18n import t, tmap

    text = tmap(lang, "staff_feed_status").get(run.status, run.status)
    text = text.format(added=str(len(run.added_ids)), updated=str(run.updated), unchanged=str(run.unchanged),
                       error=escape(run.error))
    return t(lang, "staff_feed_refreshed", name=escape(run.name or run.url), status=text)


__all__ = ["FeedRefresher", "SourceRun", "backoff_s", "run_summary", "source_states", "stats_lines", "status_text"]
