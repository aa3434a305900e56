"""The broadcaster against an in-process fake of Telegram (a plain async function), on a fake clock.

The fake clock makes pacing, back-off and flood waits instant, so these tests take well under a
second of real time while checking the timing the code asked for.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from bot.broadcast import Broadcaster, ProgressInfo, TokenBucket
from bot.delivery import (
    ChatNotFound,
    PermanentDeliveryError,
    RecipientBlocked,
    RetryLater,
    TransientDeliveryError,
)
from bot.opstore import SQLiteOperationalStore

ROOT = Path(__file__).resolve().parent.parent


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


class FakeTelegram:
    """Records every send; raises the planned errors for chosen chat ids, in order, then succeeds."""

    def __init__(self, clock: FakeClock, plan: dict[int, list[BaseException]] | None = None) -> None:
        self.clock = clock
        self.plan = {k: list(v) for k, v in (plan or {}).items()}
        self.attempts: list[tuple[float, int]] = []
        self.delivered: Counter[int] = Counter()
        self.texts: set[str] = set()

    async def __call__(self, chat_id: int, text_html: str, buttons_json: str) -> None:
        self.attempts.append((self.clock(), chat_id))
        errors = self.plan.get(chat_id)
        if errors:
            raise errors.pop(0)
        self.delivered[chat_id] += 1
        self.texts.add(text_html)


def make_store(path: Path, n: int, topics: list[str] | None = None) -> SQLiteOperationalStore:
    store = SQLiteOperationalStore(path)
    with store.transaction():
        for chat in range(1, n + 1):
            store.subscribe(chat, topics)
    return store


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def broadcaster(store, send, clock: FakeClock, **kw) -> Broadcaster:
    return Broadcaster(store, send, clock=clock, sleep=clock.sleep, **kw)


# -- the main scenario -----------------------------------------------------------------------


async def test_thousand_subscribers_with_blocks_flood_wait_and_network_errors(tmp_path, clock):
    store = make_store(tmp_path / "ops.sqlite3", 1000)
    blocked = {c for c in range(1, 1001) if c % 97 == 0}  # 10 people blocked the bot
    plan: dict[int, list[BaseException]] = {c: [RecipientBlocked()] for c in blocked}
    plan[13] = [RecipientBlocked("deactivated")]
    plan[14] = [ChatNotFound()]
    plan[500] = [RetryLater(0.05)]  # flood control once: wait, then the same recipient
    plan[300] = [TransientDeliveryError(), TransientDeliveryError()]  # recovers on the 3rd try
    plan[301] = [TransientDeliveryError()] * 10  # never recovers: failed('network')
    plan[302] = [PermanentDeliveryError("bad_request: message is too long")]
    plan[303] = [ValueError("something odd")]
    tg = FakeTelegram(clock, plan)
    progress: list[ProgressInfo] = []

    async def on_progress(p: ProgressInfo) -> None:
        progress.append(p)

    bc = broadcaster(store, tg, clock, rate_per_s=25.0, max_retries=3, backoff_s=1.0)
    bid = store.create_broadcast(77, "news", "<b>Typhoon office closures</b>")
    report = await asyncio.wait_for(bc.run(bid, on_progress), timeout=30)

    # Every subscriber ends sent or failed-with-reason; nobody got it twice.
    assert report.state == "done" and report.pending == 0 and report.ran
    assert report.total == 1000 and report.processed == 1000
    assert max(tg.delivered.values()) == 1
    rows = dict(
        store._conn.execute(
            "SELECT chat_id, state || ':' || reason FROM deliveries WHERE broadcast_id = ?", (bid,)
        )
    )
    assert len(rows) == 1000 and all(v.startswith("sent:") or v.split(":", 1)[1] for v in rows.values())
    failed = {c for c, v in rows.items() if v.startswith("failed")}
    assert failed == blocked | {13, 14, 301, 302, 303}
    assert set(tg.delivered) == set(range(1, 1001)) - failed
    assert rows[301] == "failed:network" and rows[303].startswith("failed:error: ValueError")
    assert rows[302] == "failed:bad_request: message is too long"

    # Blocked / gone recipients are marked so they are not messaged again.
    for chat in blocked | {13, 14}:
        assert store.subscriber(chat).status == "blocked"
    assert store.subscriber(13).blocked_reason == "deactivated"
    assert store.subscriber(301).active and store.subscriber(303).active

    # Retries: RetryLater waited what was asked and did not count as an attempt.
    assert [c for _, c in tg.attempts].count(500) == 2 and 0.05 in clock.sleeps
    assert [c for _, c in tg.attempts].count(300) == 3
    assert [c for _, c in tg.attempts].count(301) == 4  # 1 + max_retries, backing off 1, 2, 4 s
    assert {1.0, 2.0, 4.0} <= set(clock.sleeps)

    # Pacing: never faster than 25/s (one token at a time).
    times = [t for t, _ in tg.attempts]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) >= 1 / 25 - 1e-9
    assert report.elapsed_s >= (len(tg.attempts) - 1) / 25

    # Counts and report.
    assert report.sent == 1000 - len(failed)
    assert report.failed_by_reason == {
        "blocked": len(blocked),
        "deactivated": 1,
        "chat_not_found": 1,
        "network": 1,
        "bad_request": 1,
        "error": 1,
    }
    assert store.delivery_report(bid) == {
        "total": 1000,
        "delivered": 1000 - len(failed),
        "blocked": len(blocked),
        "not_found_or_deactivated": 2,
        "skipped": 0,
        "other_errors": 3,
        "pending": 0,
    }

    # Progress: throttled to ~every 2 s of (fake) time, with a final call.
    assert progress[-1].final and progress[-1].pending == 0 and progress[-1].state == "done"
    assert progress[0].sent == 0 and progress[0].total == 1000
    assert len(progress) <= report.elapsed_s / 2 + 3
    assert all(b.elapsed_s - a.elapsed_s >= 2.0 for a, b in zip(progress[:-2], progress[1:-1], strict=False))

    # Done is done: running it again sends nothing.
    again = await bc.run(bid)
    assert not again.ran and again.state == "done" and sum(tg.delivered.values()) == report.sent
    assert await bc.resume_unfinished() == []
    store.close()


async def test_progress_every_n_recipients(tmp_path, clock):
    store = make_store(tmp_path / "ops.sqlite3", 50)
    seen: list[int] = []

    async def on_progress(p: ProgressInfo) -> None:
        seen.append(p.sent + p.failed)

    bc = broadcaster(store, FakeTelegram(clock), clock, progress_every_s=3600, progress_every_n=20)
    await bc.run(store.create_broadcast(1, "news", "x"), on_progress)
    assert seen == [0, 20, 40, 50]
    store.close()


async def test_a_failing_progress_callback_does_not_stop_the_broadcast(tmp_path, clock):
    store = make_store(tmp_path / "ops.sqlite3", 30)

    async def broken(p: ProgressInfo) -> None:
        raise RuntimeError("edit failed")

    report = await broadcaster(store, FakeTelegram(clock), clock, progress_every_n=5).run(
        store.create_broadcast(1, "news", "x"), broken
    )
    assert report.state == "done" and report.sent == 30
    store.close()


async def test_unsubscribed_after_the_snapshot_are_skipped(tmp_path, clock):
    store = make_store(tmp_path / "ops.sqlite3", 10)
    bid = store.create_broadcast(1, "news", "x")
    store.materialise_recipients(bid)
    store.unsubscribe(3)
    store.mark_blocked(4, "blocked")
    tg = FakeTelegram(clock)
    report = await broadcaster(store, tg, clock).run(bid)
    assert 3 not in tg.delivered and 4 not in tg.delivered
    assert report.sent == 8 and report.failed_by_reason == {"unsubscribed": 1, "blocked": 1}
    assert store.delivery_report(bid)["skipped"] == 1
    store.close()


async def test_only_the_topic_subscribers_receive_it(tmp_path, clock):
    store = make_store(tmp_path / "ops.sqlite3", 20, ["news"])
    store.subscribe(100, ["workshops"])
    tg = FakeTelegram(clock)
    await broadcaster(store, tg, clock).run(store.create_broadcast(1, "workshops", "Workshop on Friday"))
    assert set(tg.delivered) == {100}
    store.close()


# -- cancellation ----------------------------------------------------------------------------


async def test_cancel_stops_after_the_message_in_flight(tmp_path, clock):
    store = make_store(tmp_path / "ops.sqlite3", 300)
    bid = store.create_broadcast(1, "news", "x")
    bc: Broadcaster

    class CancellingTelegram(FakeTelegram):
        async def __call__(self, chat_id: int, text_html: str, buttons_json: str) -> None:
            await super().__call__(chat_id, text_html, buttons_json)
            if chat_id == 120:
                assert bc.cancel(bid) is True  # staff pressed Cancel while 120 was in flight

    tg = CancellingTelegram(clock)
    bc = broadcaster(store, tg, clock)
    report = await asyncio.wait_for(bc.run(bid), timeout=10)
    assert report.state == "cancelled" and report.stopped_reason == "cancelled"
    assert set(tg.delivered) == set(range(1, 121))  # the one in flight was delivered and recorded
    info = store.broadcast(bid)
    assert (info.sent, info.pending, info.state) == (120, 180, "cancelled")
    assert store.unfinished_broadcasts() == []
    assert not (await bc.run(bid)).ran  # a cancelled broadcast is not re-run
    assert bc.cancel(bid) is False
    store.close()


async def test_cancel_through_the_store_is_noticed(tmp_path, clock):
    store = make_store(tmp_path / "ops.sqlite3", 100)
    bid = store.create_broadcast(1, "news", "x")

    class Tg(FakeTelegram):
        async def __call__(self, chat_id: int, text_html: str, buttons_json: str) -> None:
            await super().__call__(chat_id, text_html, buttons_json)
            if chat_id == 5:
                store.cancel_broadcast(bid)  # e.g. another handler, without the Broadcaster

    tg = Tg(clock)
    report = await broadcaster(store, tg, clock, batch_size=10).run(bid)
    assert report.state == "cancelled" and sum(tg.delivered.values()) == 10  # the batch in hand
    store.close()


async def test_cancel_interrupts_a_long_flood_wait(tmp_path):
    store = make_store(tmp_path / "ops.sqlite3", 5)
    bid = store.create_broadcast(1, "news", "x")

    async def flooded(chat_id: int, text_html: str, buttons_json: str) -> None:
        raise RetryLater(30)

    bc = Broadcaster(store, flooded, rate_per_s=1000)  # the real clock and sleep
    task = asyncio.create_task(bc.run(bid))
    await asyncio.sleep(0.1)
    assert bc.is_running(bid)
    bc.cancel(bid)
    report = await asyncio.wait_for(task, timeout=2)
    assert report.state == "cancelled" and report.pending == 5
    store.close()


async def test_same_broadcast_twice_in_one_process_runs_once(tmp_path, clock):
    store = make_store(tmp_path / "ops.sqlite3", 50)
    bid = store.create_broadcast(1, "news", "x")
    tg = FakeTelegram(clock)
    bc = broadcaster(store, tg, clock)
    first, second = await asyncio.gather(bc.run(bid), bc.run(bid))
    assert first.ran and not second.ran and "already running" in second.stopped_reason
    assert max(tg.delivered.values()) == 1 and len(tg.delivered) == 50
    store.close()


# -- crash and resume ------------------------------------------------------------------------


async def test_resume_after_a_crash_misses_nobody_and_repeats_at_most_one(tmp_path, clock):
    path = tmp_path / "ops.sqlite3"
    store = make_store(path, 400)
    bid = store.create_broadcast(1, "news", "x")
    delivered: Counter[int] = Counter()
    hang = asyncio.Event()

    async def dying(chat_id: int, text_html: str, buttons_json: str) -> None:
        delivered[chat_id] += 1  # Telegram has it...
        if len(delivered) == 250:
            await hang.wait()  # ...and the process dies before it is recorded

    task = asyncio.create_task(broadcaster(store, dying, clock).run(bid))
    while len(delivered) < 250:
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=5)
    store.close()

    # A new process: new store object, new broadcaster, same file.
    store = SQLiteOperationalStore(path)
    assert store.broadcast(bid).state == "running" and store.broadcast(bid).sent == 249

    async def healthy(chat_id: int, text_html: str, buttons_json: str) -> None:
        delivered[chat_id] += 1

    bc = broadcaster(store, healthy, clock)
    assert await bc.resume_unfinished() == [bid]
    report = await asyncio.wait_for(bc.run(bid), timeout=10)
    assert report.state == "done" and report.sent == 400
    assert set(delivered) == set(range(1, 401))  # nobody missed
    assert sum(n - 1 for n in delivered.values()) <= 1  # only the one in flight may repeat
    store.close()


async def test_resume_when_the_crash_came_before_materialising(tmp_path, clock):
    path = tmp_path / "ops.sqlite3"
    store = make_store(path, 20)
    bid = store.create_broadcast(1, "news", "x")  # the process died right after creating it
    store.close()
    store = SQLiteOperationalStore(path)
    tg = FakeTelegram(clock)
    bc = broadcaster(store, tg, clock)
    assert await bc.resume_unfinished() == [bid]
    assert (await bc.run(bid)).sent == 20
    store.close()


async def test_scheduled_broadcast_runs_when_started(tmp_path, clock):
    store = make_store(tmp_path / "ops.sqlite3", 5)
    bid = store.create_broadcast(1, "news", "later", scheduled_for="2030-01-01T09:00:00+08:00")
    tg = FakeTelegram(clock)
    report = await broadcaster(store, tg, clock).run(bid)
    assert report.state == "done" and len(tg.delivered) == 5
    assert store.broadcast(bid).started_at is not None
    store.close()


# -- systemic failures -----------------------------------------------------------------------


async def test_a_run_of_systemic_errors_pauses_instead_of_failing_everyone(tmp_path, clock):
    store = make_store(tmp_path / "ops.sqlite3", 200)
    bid = store.create_broadcast(1, "news", "<b>unclosed")

    async def rejecting(chat_id: int, text_html: str, buttons_json: str) -> None:
        raise PermanentDeliveryError("bad_request: can't parse entities")

    report = await broadcaster(store, rejecting, clock, max_consecutive_errors=10).run(bid)
    assert report.state == "running" and report.failed == 10 and report.pending == 190
    assert "10 consecutive errors" in report.stopped_reason
    assert "10 consecutive errors" in store.broadcast(bid).note

    tg = FakeTelegram(clock)
    report = await broadcaster(store, tg, clock).run(bid)  # fixed (or network back): resume
    assert report.state == "done" and report.sent == 190 and store.broadcast(bid).note == ""
    store.close()


async def test_network_outage_pauses_too(tmp_path, clock):
    store = make_store(tmp_path / "ops.sqlite3", 100)
    bid = store.create_broadcast(1, "news", "x")

    async def offline(chat_id: int, text_html: str, buttons_json: str) -> None:
        raise TransientDeliveryError()

    report = await broadcaster(store, offline, clock, max_consecutive_errors=5, max_retries=1).run(bid)
    assert report.failed_by_reason == {"network": 5} and report.pending == 95
    store.close()


# -- pacing ----------------------------------------------------------------------------------


async def test_token_bucket_paces_at_the_rate(clock):
    bucket = TokenBucket(25.0, clock=clock, sleep=clock.sleep)
    start = clock()
    for _ in range(101):
        await bucket.acquire()
    assert clock() - start == pytest.approx(100 / 25, rel=1e-6)


# -- boundaries ------------------------------------------------------------------------------


def test_core_does_not_import_telegram():
    code = "import sys, bot.broadcast, bot.opstore, bot.delivery; sys.exit('telegram' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=30)
    assert result.returncode == 0


class _FakeBot:
    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error
        self.calls: list[dict] = []

    async def send_message(self, chat_id, text, **kw):
        self.calls.append({"chat_id": chat_id, "text": text, **kw})
        if self.error:
            raise self.error


@pytest.mark.parametrize(
    ("error", "expected", "reason"),
    [
        ("Forbidden('Forbidden: bot was blocked by the user')", RecipientBlocked, "blocked"),
        ("Forbidden('Forbidden: user is deactivated')", RecipientBlocked, "deactivated"),
        ("BadRequest('Bad Request: chat not found')", ChatNotFound, "chat_not_found"),
        (
            "BadRequest('Bad Request: message is too long')",
            PermanentDeliveryError,
            "bad_request: Message is too long",
        ),
        ("TimedOut()", TransientDeliveryError, None),
        ("NetworkError('connection reset')", TransientDeliveryError, None),
        ("ChatMigrated(-100123)", PermanentDeliveryError, "chat_migrated: -100123"),
    ],
)
async def test_telegram_adapter_translates_errors(error, expected, reason):
    import telegram.error as tg_error

    from bot.telegram_delivery import telegram_sender

    exc = eval(error, vars(tg_error))  # noqa: S307 - fixed strings above
    bot = _FakeBot(exc)
    with pytest.raises(expected) as info:
        await telegram_sender(bot)(5, "<b>x</b>", "")
    if reason:
        assert info.value.reason == reason
    assert bot.calls[0]["parse_mode"] == "HTML"


@pytest.mark.filterwarnings("ignore:.*retry_after")  # PTB's own deprecation notice, raised inside RetryAfter
@pytest.mark.parametrize("opt_in", ["false", "true"])
async def test_telegram_adapter_retry_after_int_or_timedelta(monkeypatch, opt_in):
    from telegram.error import RetryAfter

    from bot.telegram_delivery import retry_after_seconds, telegram_sender

    monkeypatch.setenv("PTB_TIMEDELTA", opt_in)
    exc = RetryAfter(timedelta(seconds=7))
    assert retry_after_seconds(exc) == 7.0
    with pytest.raises(RetryLater) as info:
        await telegram_sender(_FakeBot(exc))(5, "x", "")
    assert info.value.seconds == 7.0


async def test_telegram_adapter_buttons_and_other_errors():
    from telegram import InlineKeyboardMarkup
    from telegram.error import InvalidToken

    from bot.telegram_delivery import telegram_sender

    bot = _FakeBot()
    await telegram_sender(bot)(5, "x", '[[{"text": "Read", "url": "https://www.moi.gov.tw/"}]]')
    markup = bot.calls[0]["reply_markup"]
    assert isinstance(markup, InlineKeyboardMarkup)
    assert markup.inline_keyboard[0][0].url == "https://www.moi.gov.tw/"
    assert bot.calls[0]["link_preview_options"].is_disabled
    with pytest.raises(PermanentDeliveryError, match="bad_buttons"):
        await telegram_sender(bot)(5, "x", "{not json")
    with pytest.raises(InvalidToken):  # not a per-recipient problem: passed through unchanged
        await telegram_sender(_FakeBot(InvalidToken()))(5, "x", "")
