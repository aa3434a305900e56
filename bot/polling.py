"""A getUpdates loop that never loses a citizen's message on a crash.

PTB's run_polling confirms updates to Telegram (by advancing the offset) before they are
handled, so a kill loses the backlog. Here each update is handled first, then its id is
written durably, and only then is the offset advanced. After a kill, the update that was in
hand is fetched again: at most one duplicate reply per crash, never a lost one.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from telegram import Update
from telegram.error import Conflict, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.ext import Application

log = logging.getLogger("bot.polling")
POLL_TIMEOUT = 20  # seconds of long polling per request


# Telegram picks the next update_id at random after a week without updates; an id stored before
# such a gap must not make the loop skip the new, possibly lower, ids.
ID_RESTART_AFTER = timedelta(days=6)


async def poll_until_stopped(app: Application, ops, stop: asyncio.Event, *, timeout: int = POLL_TIMEOUT) -> None:
    last = ops.last_update_id()
    stamp = ops.last_update_at()
    if last is not None and (stamp is None or datetime.now(UTC) - stamp > ID_RESTART_AFTER):
        log.info("last handled update is older than %s: not skipping by id", ID_RESTART_AFTER)
        last = None
    backoff = 1.0
    while not stop.is_set():
        fetch = asyncio.ensure_future(app.bot.get_updates(
            offset=None if last is None else last + 1, timeout=timeout, allowed_updates=Update.ALL_TYPES,
            read_timeout=timeout + 10))
        stopper = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({fetch, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if fetch not in done:
            fetch.cancel()
            break
        stopper.cancel()
        try:
            updates = fetch.result()
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
        for update in updates:
            if last is not None and update.update_id <= last:
                continue  # already handled before a restart
            await app.process_update(update)
            ops.set_last_update_id(update.update_id)
            last = update.update_id
            if stop.is_set():
                break
    if last is not None:
        # Confirm what was handled, so Telegram does not hold it for the next start (which would skip it anyway).
        try:
            await app.bot.get_updates(offset=last + 1, timeout=0, limit=1)
        except Exception as exc:  # shutting down: the stored update id still prevents a second reply
            log.info("could not confirm the last update on stop: %s", type(exc).__name__)
    log.info("polling stopped; last handled update %s", last)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass


def _seconds(value) -> float:
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)
