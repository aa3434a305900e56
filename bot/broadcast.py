"""Send one announcement to every subscriber of a topic, resumable after a crash.

Why it is shaped this way:
- One message in flight at a time, recorded durably right after it is sent: a kill or a crash
  repeats at most the one message that was in flight, and a restart resumes from the store's
  pending list, so nobody is missed and nobody gets it twice otherwise.
- One token bucket per Broadcaster paces every broadcast of the process below Telegram's ~30
  messages/s; each recipient gets one message, so the 1 message/s per-chat limit holds by itself.
- A failing recipient never stops a broadcast: it is recorded with a reason and the next one
  goes. Only a long run of failures that are not about the recipient (a network outage, a text
  Telegram rejects) pauses it, still 'running', so the bot can resume it later instead of
  marking 100,000 people failed.
- The send function is given, not imported: the core knows nothing about Telegram.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.delivery import (
    ChatNotFound,
    PermanentDeliveryError,
    RecipientBlocked,
    RetryLater,
    SendFn,
    TransientDeliveryError,
)
from bot.opstore import BroadcastInfo, OperationalStore

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ProgressInfo:
    """What the staff member's single progress message shows."""

    broadcast_id: int
    state: str
    total: int
    sent: int
    failed: int
    pending: int
    failed_by_reason: dict[str, int]
    elapsed_s: float
    rate_per_s: float  # observed in this run
    eta_s: float | None
    final: bool
    note: str = ""


@dataclass(frozen=True, slots=True)
class Report:
    """How a run() ended. ran=False: nothing was sent (already finished or already running)."""

    broadcast_id: int
    state: str
    total: int
    sent: int
    failed: int
    pending: int
    failed_by_reason: dict[str, int] = field(default_factory=dict)
    processed: int = 0  # recipients recorded by this run
    elapsed_s: float = 0.0
    ran: bool = True
    stopped_reason: str = ""


def _counts(info: BroadcastInfo) -> dict:
    """The delivery counts a progress message and a report both show."""
    return {"broadcast_id": info.id, "state": info.state, "total": info.total, "sent": info.sent,
            "failed": info.failed, "pending": info.pending, "failed_by_reason": dict(info.failed_by_reason)}


class TokenBucket:
    """Global pacing: `rate` tokens a second, at most `capacity` saved up."""

    def __init__(
        self, rate: float, *, capacity: float = 1.0, clock: Clock = time.monotonic, sleep: Sleep
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = max(1.0, capacity)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def acquire(self) -> None:
        self._refill()
        while self._tokens < 1.0 - 1e-9:  # tolerance: float rounding must not spin on tiny sleeps
            await self._sleep((1.0 - self._tokens) / self.rate)
            self._refill()
        self._tokens = max(0.0, self._tokens - 1.0)

    def drain(self) -> None:
        """After a flood-control wait, start from empty so the next sends do not burst."""
        self._refill()
        self._tokens = 0.0


class _Outcome:
    """Kinds of result for one recipient; only SYSTEMIC ones count toward pausing."""

    SENT, RECIPIENT, SYSTEMIC, INTERRUPTED = "sent", "recipient", "systemic", "interrupted"


class Broadcaster:
    """Runs broadcasts stored in an OperationalStore through a given send function."""

    def __init__(
        self,
        store: OperationalStore,
        send: SendFn,
        *,
        rate_per_s: float = 25.0,
        max_retries: int = 3,
        backoff_s: float = 1.0,
        max_flood_waits: int = 20,
        max_consecutive_errors: int = 25,
        batch_size: int = 100,
        progress_every_s: float = 2.0,
        progress_every_n: int = 0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.store = store
        self._send = send
        self.max_retries = max(0, max_retries)
        self.backoff_s = max(0.0, backoff_s)
        self.max_flood_waits = max(1, max_flood_waits)
        self.max_consecutive_errors = max(0, max_consecutive_errors)
        self.batch_size = max(1, batch_size)
        self.progress_every_s = progress_every_s
        self.progress_every_n = max(0, progress_every_n)
        self._clock = clock
        self._sleep = sleep
        self._bucket = TokenBucket(rate_per_s, clock=clock, sleep=sleep)
        self._send_lock = asyncio.Lock()  # one message in flight for the whole process
        self._active: dict[int, asyncio.Event] = {}

    # -- public ------------------------------------------------------------------------------
    def is_running(self, broadcast_id: int) -> bool:
        return broadcast_id in self._active

    def cancel(self, broadcast_id: int) -> bool:
        """Cancel in the store and stop a run in this process after its message in flight.
        False if the broadcast had already finished."""
        changed = self.store.cancel_broadcast(broadcast_id)
        event = self._active.get(broadcast_id)
        if event is not None:
            event.set()
        return changed

    async def resume_unfinished(self) -> list[int]:
        """Ids of broadcasts left 'running' by a previous process (not running here): run() each."""
        return [b.id for b in self.store.unfinished_broadcasts() if b.id not in self._active]

    async def run(
        self,
        broadcast_id: int,
        on_progress: Callable[[ProgressInfo], Awaitable[None]] | None = None,
    ) -> Report:
        """Deliver a broadcast to every pending recipient; safe to call again after a crash."""
        info = self.store.broadcast(broadcast_id)
        if info.finished:
            return self._report(info, ran=False, stopped_reason=f"already {info.state}")
        if broadcast_id in self._active:
            return self._report(info, ran=False, stopped_reason="already running in this process")
        cancel = asyncio.Event()
        self._active[broadcast_id] = cancel
        try:
            if info.state != "running" or info.note:
                self.store.set_broadcast_state(broadcast_id, "running", note="")
            self.store.materialise_recipients(broadcast_id)
            return await self._deliver_all(broadcast_id, cancel, on_progress)
        finally:
            self._active.pop(broadcast_id, None)

    # -- the loop ----------------------------------------------------------------------------
    async def _deliver_all(
        self,
        broadcast_id: int,
        cancel: asyncio.Event,
        on_progress: Callable[[ProgressInfo], Awaitable[None]] | None,
    ) -> Report:
        started = self._clock()
        progress = _ProgressGate(self, broadcast_id, on_progress, started)
        processed, consecutive, stopped = 0, 0, ""
        info = self.store.broadcast(broadcast_id)
        await progress.emit(info, processed)
        while True:
            if cancel.is_set() or info.state == "cancelled":
                stopped = "cancelled"
                break
            batch = self.store.next_pending(broadcast_id, self.batch_size)
            if not batch:
                self.store.set_broadcast_state(broadcast_id, "done")
                break
            for chat_id in batch:
                if cancel.is_set():
                    stopped = "cancelled"
                    break
                kind, reason = await self._deliver_one(broadcast_id, chat_id, info, cancel)
                if kind == _Outcome.INTERRUPTED:
                    stopped = "cancelled"
                    break
                processed += 1
                consecutive = consecutive + 1 if kind == _Outcome.SYSTEMIC else 0
                if self.max_consecutive_errors and consecutive >= self.max_consecutive_errors:
                    stopped = f"paused after {consecutive} consecutive errors, last: {reason}"
                    self.store.set_broadcast_state(broadcast_id, "running", note=stopped)
                    log.error("broadcast %s %s", broadcast_id, stopped)
                    break
                await progress.maybe(processed)
            if stopped:
                break
            info = self.store.broadcast(broadcast_id)  # notices a cancel made through the store
        final = self.store.broadcast(broadcast_id)
        await progress.emit(final, processed, final=True)
        return self._report(
            final, processed=processed, elapsed=self._clock() - started, stopped_reason=stopped
        )

    async def _deliver_one(
        self, broadcast_id: int, chat_id: int, info: BroadcastInfo, cancel: asyncio.Event
    ) -> tuple[str, str]:
        """Send to one recipient with retries and record the outcome; never raises for a send error."""
        sub = self.store.subscriber(chat_id)
        if sub is None or not sub.active:
            # Unsubscribed or blocked after the list was taken: respect that, do not send.
            reason = "unsubscribed" if sub is None else (sub.blocked_reason or "blocked")
            self.store.mark_delivery(broadcast_id, chat_id, "failed", reason)
            return _Outcome.RECIPIENT, reason
        attempts = flood_waits = 0
        while True:
            await self._bucket.acquire()
            try:
                async with self._send_lock:
                    await self._send(chat_id, info.text_html, info.buttons_json)
            except RetryLater as exc:
                flood_waits += 1
                if flood_waits > self.max_flood_waits:
                    return self._fail(broadcast_id, chat_id, "flood_wait: gave up", systemic=True)
                log.warning("broadcast %s: flood control, waiting %.1fs", broadcast_id, exc.seconds)
                self._bucket.drain()
                if not await self._wait(exc.seconds, cancel):
                    return _Outcome.INTERRUPTED, ""
            except (RecipientBlocked, ChatNotFound) as exc:
                self.store.mark_delivery(broadcast_id, chat_id, "failed", exc.reason)
                self.store.mark_blocked(chat_id, exc.reason)
                return _Outcome.RECIPIENT, exc.reason
            except TransientDeliveryError:
                attempts += 1
                if attempts > self.max_retries:
                    return self._fail(broadcast_id, chat_id, "network", systemic=True)
                if not await self._wait(self.backoff_s * 2 ** (attempts - 1), cancel):
                    return _Outcome.INTERRUPTED, ""
            except PermanentDeliveryError as exc:
                return self._fail(broadcast_id, chat_id, exc.reason, systemic=True)
            except Exception as exc:  # one bad recipient must not stop the broadcast
                log.exception("broadcast %s: unexpected error sending to a recipient", broadcast_id)
                return self._fail(broadcast_id, chat_id, f"error: {type(exc).__name__}: {exc}", systemic=True)
            else:
                self.store.mark_delivery(broadcast_id, chat_id, "sent")
                return _Outcome.SENT, ""

    def _fail(self, broadcast_id: int, chat_id: int, reason: str, *, systemic: bool) -> tuple[str, str]:
        self.store.mark_delivery(broadcast_id, chat_id, "failed", reason)
        return (_Outcome.SYSTEMIC if systemic else _Outcome.RECIPIENT), reason

    async def _wait(self, seconds: float, cancel: asyncio.Event) -> bool:
        """Sleep, but wake early on cancel. False if cancelled (nothing is in flight then)."""
        if cancel.is_set():
            return False
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        waiter = asyncio.ensure_future(cancel.wait())
        try:
            await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waiter):
                task.cancel()
        return not cancel.is_set()

    def _report(
        self,
        info: BroadcastInfo,
        *,
        ran: bool = True,
        processed: int = 0,
        elapsed: float = 0.0,
        stopped_reason: str = "",
    ) -> Report:
        return Report(
            **_counts(info),
            processed=processed,
            elapsed_s=elapsed,
            ran=ran,
            stopped_reason=stopped_reason,
        )


class _ProgressGate:
    """Calls on_progress at most every progress_every_s (or every N recipients) and at the end,
    so the staff member's one progress message is edited, not flooded."""

    def __init__(
        self,
        owner: Broadcaster,
        broadcast_id: int,
        callback: Callable[[ProgressInfo], Awaitable[None]] | None,
        started: float,
    ) -> None:
        self._owner = owner
        self._id = broadcast_id
        self._callback = callback
        self._started = started
        self._last_at = started
        self._last_n = 0

    async def maybe(self, processed: int) -> None:
        if self._callback is None:
            return
        now = self._owner._clock()
        every_n = self._owner.progress_every_n
        if now - self._last_at >= self._owner.progress_every_s or (
            every_n and processed - self._last_n >= every_n
        ):
            await self.emit(self._owner.store.broadcast(self._id), processed)

    async def emit(self, info: BroadcastInfo, processed: int, *, final: bool = False) -> None:
        if self._callback is None:
            return
        now = self._owner._clock()
        self._last_at, self._last_n = now, processed
        elapsed = now - self._started
        rate = processed / elapsed if elapsed > 0 else 0.0
        eta = info.pending / rate if rate > 0 else None
        progress = ProgressInfo(
            **_counts(info),
            elapsed_s=elapsed,
            rate_per_s=rate,
            eta_s=eta,
            final=final,
            note=info.note,
        )
        try:
            await self._callback(progress)
        except asyncio.CancelledError:
            raise
        except Exception:  # a failed progress edit must not stop the broadcast
            log.exception("broadcast %s: progress callback failed", self._id)


__all__ = ["Broadcaster", "ProgressInfo", "Report", "TokenBucket"]
