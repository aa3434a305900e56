"""A getUpdates loop that never loses a citizen's message, and that no single update can stop.

PTB's run_polling confirms updates to Telegram (by advancing the offset) before they are
handled, so a kill loses the backlog. Here each update is handled first, then the mark (the
highest id up to which every update is handled or deliberately skipped) is written durably, and
only then is the offset advanced past it. After a kill, what was in hand is fetched again: at most
one duplicate reply per crash, never a lost one.

- Raw JSON: the batch is fetched as JSON and each update de-serialised on its own (bot/intake.py),
  because PTB's get_updates de-serialises the whole batch at once and one update it cannot read
  (a newer Bot API's poll, say) would raise for all of them, on every restart.
- Bursts: an update waiting in a person's open burst is not confirmed until the burst's reply was
  sent; meanwhile the loop keeps fetching (briefly, without long polling, since Telegram returns
  the unconfirmed ones at once) and skips the updates it already holds. When a whole batch is held,
  newer updates are out of sight, so the held bursts are answered at once.
- Crash loops: the first update after a start is noted as "in hand"; one that was in hand when
  MAX_CRASHES runs in a row died is skipped with a reason instead of killing the next run too.
- Storage: a mark that cannot be written (disk full, read-only) is kept in memory and written again
  on the next pass; the bot goes on answering (bot/health.py).
- The mark is keyed by the bot's id: the same state database pointed at another bot starts fresh.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from telegram import Update
from telegram.error import Conflict, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.ext import Application

from bot.health import is_storage_error

log = logging.getLogger("bot.polling")
POLL_TIMEOUT = 20  # seconds of long polling per request
HOLDING_POLL_S = 0.25  # how often to look for new updates while some wait in a burst
FETCH_LIMIT = 100  # Telegram's most updates per getUpdates
MAX_CRASHES = 3  # runs that may die with the same update in hand before it is skipped
STOP_GRACE_S = 15.0  # on stop, how long open bursts may take to be answered


# Telegram picks the next update_id at random after a week without updates; an id stored before
# such a gap must not make the loop skip the new, possibly lower, ids.
ID_RESTART_AFTER = timedelta(days=6)


async def fetch_raw_updates(app: Application, offset: int | None, timeout: float, limit: int = FETCH_LIMIT) -> list:
    """getUpdates as JSON, not yet de-serialised.

    Bot._post is PTB's one request path (token, timeouts, error mapping to telegram.error); the
    public get_updates would de-serialise the batch as a whole, which is what must not happen."""
    data = {"offset": offset, "timeout": timeout, "limit": limit, "allowed_updates": list(Update.ALL_TYPES)}
    result = await app.bot._post("getUpdates", data, read_timeout=timeout + 10)
    return result if isinstance(result, list) else []


class _Mark:
    """The durable mark and the in-hand note, tolerant of a state database that cannot be written."""

    def __init__(self, services, bot_id: int) -> None:
        self.services, self.ops, self.bot_id = services, services.ops, bot_id
        self.value: int | None = self.ops.last_update_id(bot_id)
        stamp = self.ops.last_update_at(bot_id)
        if self.value is not None and (stamp is None or datetime.now(UTC) - stamp > ID_RESTART_AFTER):
            log.info("last handled update is older than %s: not skipping by id", ID_RESTART_AFTER)
            self.value = None
        self.stored = self.value
        self.in_hand: int | None = None

    def advance(self, value: int) -> None:
        self.value = value
        self.save()

    def save(self) -> None:
        """Write the mark if it moved since the last successful write."""
        if self.value is None or self.value == self.stored:
            return
        try:
            self.ops.set_last_update_id(self.bot_id, self.value)
            if self.in_hand is not None and self.value >= self.in_hand:
                self.ops.end_update(self.bot_id)
                self.in_hand = None
        except Exception as exc:
            if not is_storage_error(exc):
                raise
            self.services.health.failed("state", exc, doing="writing the handled-update mark")
            return
        self.stored = self.value
        self.services.health.ok("state")

    def crashed_before(self, update_id: int) -> int:
        """Note the update as in hand; how many earlier runs died holding it."""
        try:
            earlier = self.ops.begin_update(self.bot_id, update_id)
        except Exception as exc:
            if not is_storage_error(exc):
                raise
            self.services.health.failed("state", exc, doing="noting the update in hand")
            return 0
        self.in_hand = update_id
        return earlier


async def poll_until_stopped(app: Application, intake, stop: asyncio.Event, *, timeout: int = POLL_TIMEOUT) -> None:
    services = intake.services
    mark = _Mark(services, app.bot.id)
    seen = mark.value  # the highest update id handed to the intake
    pending: dict[int, asyncio.Future] = {}  # handed over, not yet handled (waiting in a burst)
    first = True
    backoff = 1.0

    def settle() -> None:
        """Advance the mark over every update that is done, up to the first that is not."""
        while pending:
            lowest = min(pending)
            if not pending[lowest].done():
                _advance(lowest - 1)
                return
            del pending[lowest]
        if seen is not None:
            _advance(seen)

    def _advance(value: int) -> None:
        if mark.value is None or value > mark.value:
            mark.advance(value)

    while not stop.is_set():
        holding = bool(pending)
        mark.save()  # a mark that could not be written is retried on every pass
        offset = None if mark.value is None else mark.value + 1
        fetch = asyncio.ensure_future(fetch_raw_updates(app, offset, 0 if holding else timeout))
        stopper = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({fetch, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if fetch not in done:
            fetch.cancel()
            break
        stopper.cancel()
        try:
            raws = fetch.result()
            backoff = 1.0
        except InvalidToken:
            log.error("Telegram rejected the token: check TELEGRAM_BOT_TOKEN")
            raise
        except Conflict:
            log.error("another poller or a webhook is active for this bot; retrying in %.0fs", 10)
            await _sleep_or_stop(stop, 10)
            continue
        except RetryAfter as exc:
            await _sleep_or_stop(stop, _seconds(exc.retry_after))
            continue
        except (TimedOut, NetworkError) as exc:
            log.warning("getUpdates failed (%s); retrying in %.0fs", type(exc).__name__, backoff)
            await _sleep_or_stop(stop, backoff)
            backoff = min(backoff * 2, 30)
            continue
        fresh = 0
        for raw in raws:
            update_id = raw.get("update_id") if isinstance(raw, dict) else None
            if not isinstance(update_id, int):
                log.warning("getUpdates returned an entry without an update id; ignored")
                continue
            if seen is not None and update_id <= seen:
                continue  # already handled before a restart, or waiting in a burst
            fresh += 1
            if first:
                first = False
                if mark.crashed_before(update_id) >= MAX_CRASHES:
                    intake.skip(update_id, next((k for k in raw if k != "update_id"), "empty"),
                                f"the bot died {MAX_CRASHES} times while handling it")
                    seen = update_id
                    settle()
                    continue
            pending[update_id] = await intake.submit(raw)
            seen = update_id
            settle()
            if stop.is_set():
                break
        settle()
        if pending and not fresh and len(raws) >= FETCH_LIMIT:
            # A whole batch of updates already held: the next ones are out of sight until these are
            # confirmed, so waiting cannot add to the bursts. Answer them now.
            await intake.flush_all()
            settle()
        elif pending and not fresh:  # nothing new: wait a moment (or until a burst is answered)
            pause = asyncio.ensure_future(_sleep_or_stop(stop, HOLDING_POLL_S))
            await asyncio.wait([*pending.values(), pause], return_when=asyncio.FIRST_COMPLETED)
            pause.cancel()
            settle()
    # Stopping: answer the open bursts, then record and confirm everything handled.
    await intake.flush_all()
    if pending:
        await asyncio.wait(list(pending.values()), timeout=STOP_GRACE_S)
    settle()
    mark.save()
    if mark.value is not None:
        # Confirm what was handled, so Telegram does not hold it for the next start (which would skip it anyway).
        try:
            await fetch_raw_updates(app, mark.value + 1, 0, limit=1)
        except Exception as exc:  # shutting down: the stored mark still prevents a second reply
            log.info("could not confirm the last update on stop: %s", type(exc).__name__)
    log.info("polling stopped; last handled update %s", mark.value)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass


def _seconds(value) -> float:
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)
