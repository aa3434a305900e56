"""A broadcast end to end over real HTTP: bot/announce creates it, the staff handlers run it in the
background (progress edits, delivery report), the Broadcaster paces and retries, the Telegram
adapter (bot/telegram_delivery.telegram_sender on a real telegram.Bot) sends it, and the
loopback Bot API emulator (tests/emulator.py) plays Telegram and injects the faults.
"""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path

import pytest
from telegram.request import HTTPXRequest

from bot import announce
from bot.app import build_application
from bot.cli import cmd_announce
from bot.config import Settings
from bot.services import Services
from handlers import broadcast_jobs
from tests.conftest import STAFF_ID, TOKEN
from tests.emulator import BotAPIEmulator

N = 1000
RATE = 500.0  # messages/s: fast enough for a test, still paced by the Broadcaster's token bucket
READ_TIMEOUT = 0.3  # a delayed answer longer than this is a TimedOut for the bot


def _settings(store_path: Path, emu: BotAPIEmulator) -> Settings:
    return Settings(token=TOKEN, db_path=store_path, staff_ids=frozenset({STAFF_ID}), api_base_url=emu.base_url,
                    broadcast_rate=RATE)


def _subscribe(services: Services, chats) -> None:
    with services.ops.transaction():
        for chat in chats:
            services.ops.subscribe(chat, ["news"])


async def _app(settings: Settings, services: Services):
    app = build_application(settings, services, rate_limit=False,
                            request=HTTPXRequest(connection_pool_size=8, read_timeout=READ_TIMEOUT))
    await app.initialize()
    return app


def _to_subscribers(emu: BotAPIEmulator) -> list[tuple[str, dict]]:
    return [(m, p) for m, p in emu.calls if m == "sendMessage" and p.get("chat_id") != STAFF_ID]


async def test_thousand_subscribers_with_blocks_missing_chats_flood_wait_and_timeouts(store_path):
    recipients = range(10_001, 10_001 + N)
    blocked = {c for c in recipients if c % 53 == 0}
    missing = {c for c in recipients if c % 71 == 0} - blocked
    deactivated = {10_010, 10_020, 10_030} - blocked - missing
    gone = blocked | missing | deactivated

    async with BotAPIEmulator(tokens=[TOKEN]) as emu:
        settings = _settings(store_path, emu)
        services = Services.open(settings)
        app = await _app(settings, services)
        try:
            _subscribe(services, recipients)
            emu.blocked_chats |= blocked
            emu.missing_chats |= missing
            emu.deactivated_chats |= deactivated
            post = services.store.post("p055")
            bid = announce.create(services.ops, STAFF_ID, "news", announce.from_post(post, bot_username="moi_helper_bot"))
            progress = await app.bot.send_message(STAFF_ID, "Broadcast starting…")
            services.ops.set_progress_message(bid, STAFF_ID, progress.message_id)

            async def faults() -> None:
                """Mid-broadcast: one 429 (retry_after 1), then three answers too late for the bot."""
                await emu.wait_for(lambda: len(_to_subscribers(emu)) >= 300, 30, "300 sends")
                emu.flood(retry_after=1, times=1)
                for mark in (500, 650, 800):
                    await emu.wait_for(lambda m=mark: len(_to_subscribers(emu)) >= m, 30, f"{mark} sends")
                    # deliver=False: Telegram drops a request whose client gave up, so a retry is safe.
                    emu.delay_next("sendMessage", 1.0, times=1, deliver=False)

            injector = asyncio.create_task(faults())
            started = time.monotonic()
            report = await asyncio.wait_for(broadcast_jobs.launch(app, bid, "en"), timeout=60)
            elapsed = time.monotonic() - started
            await asyncio.wait_for(injector, 5)
        finally:
            await app.shutdown()
            ops = services.ops

        # Every subscriber ends sent or failed-with-reason; nobody got it twice.
        assert report is not None and report.state == "done" and report.pending == 0 and report.total == N
        assert emu.duplicates() == {}
        for chat in recipients:
            assert emu.delivered_count(chat) == (0 if chat in gone else 1), chat
        states = dict(ops._conn.execute(
            "SELECT chat_id, state || ':' || reason FROM deliveries WHERE broadcast_id = ?", (bid,)).fetchall())
        assert len(states) == N
        assert {c for c, s in states.items() if s == "sent:"} == set(recipients) - gone
        assert all(states[c] == "failed:blocked" for c in blocked)
        assert all(states[c] == "failed:chat_not_found" for c in missing)
        assert all(states[c] == "failed:deactivated" for c in deactivated)

        # Blocked and vanished chats are marked, so no later broadcast messages them.
        for chat in gone:
            assert ops.subscriber(chat).status == "blocked"
        assert ops.subscriber(10_001).active

        # The faults really happened, and each cost exactly one extra attempt.
        calls = _to_subscribers(emu)
        assert len(calls) == N + 1 + 3  # + the 429 retried + three timed-out attempts retried
        assert emu.rate_violations == 0

        # The delivery report adds up, and the staff member got it.
        counts = ops.delivery_report(bid)
        assert counts == {"total": N, "delivered": N - len(gone), "blocked": len(blocked),
                          "not_found_or_deactivated": len(missing) + len(deactivated), "skipped": 0,
                          "other_errors": 0, "pending": 0}
        assert sum(counts[k] for k in ("delivered", "blocked", "not_found_or_deactivated", "other_errors")) == N
        [report_message] = [m for m in emu.messages_to(STAFF_ID) if "Delivery report" in m["text"]]
        for line in (f"Delivered: {N - len(gone)}", f"Blocked the bot: {len(blocked)}",
                     f"Chat not found or account deactivated: {len(missing) + len(deactivated)}",
                     "Other errors: 0", f"Recipients: {N}"):
            assert line in report_message["text"]

        # One progress message, edited (not one message per recipient), ending at N / N.
        edits = [e for e in emu.edits if e.get("message_id") == progress.message_id]
        assert edits and len(edits) <= elapsed / 2 + 3
        assert "sent 1000 / 1000" in edits[-1]["text"]
        assert len(emu.messages_to(STAFF_ID)) == 2  # "starting" and the report

        # Bounded: 1,000 sends at 500/s, a 1 s flood wait and three 0.3 s timeouts with 1 s back-off.
        assert elapsed < 30
        services.close()


async def test_an_answer_lost_after_telegram_delivered_is_the_only_way_to_get_two(store_path):
    """At-least-once, measured: if Telegram delivered a message but its answer never reached the
    bot (deliver=True), the retry delivers it again. Nothing else duplicates, and nobody is missed."""
    recipients = range(20_001, 20_051)
    async with BotAPIEmulator(tokens=[TOKEN]) as emu:
        settings = _settings(store_path, emu)
        services = Services.open(settings)
        app = await _app(settings, services)
        try:
            _subscribe(services, recipients)
            bid = announce.create(services.ops, STAFF_ID, "news", announce.from_text("Ambiguous timeouts"))
            progress = await app.bot.send_message(STAFF_ID, "Broadcast starting…")
            services.ops.set_progress_message(bid, STAFF_ID, progress.message_id)
            emu.delay_next("sendMessage", 1.0, times=2, deliver=True)
            report = await asyncio.wait_for(broadcast_jobs.launch(app, bid, "en"), timeout=30)
        finally:
            await app.shutdown()
        assert report.state == "done" and report.sent == len(recipients)
        assert all(emu.delivered_count(c) >= 1 for c in recipients)
        # Both late answers hit the first recipient (the retry was the second delayed call).
        assert emu.duplicates() == {(20_001, emu.messages_to(20_001)[0]["text"]): 3}
        services.close()


async def test_terminal_announce_sends_through_the_emulator(store_path):
    """`python -m bot announce --topic news --text … --yes` with a token: the same path, from a terminal."""
    recipients = list(range(30_001, 30_021))
    async with BotAPIEmulator(tokens=[TOKEN]) as emu:
        settings = _settings(store_path, emu)
        services = Services.open(settings)
        _subscribe(services, recipients)
        emu.blocked_chats.add(30_005)
        out, err = io.StringIO(), io.StringIO()
        code = await asyncio.to_thread(cmd_announce, settings, topic="news", post=None,
                                       text="Typhoon: offices closed", at=None, yes=True, out=out, err=err)
        assert code == 0, err.getvalue()
        assert "Delivered: 19" in out.getvalue() and "Blocked the bot: 1" in out.getvalue()
        assert all(emu.delivered_count(c) == (0 if c == 30_005 else 1) for c in recipients)
        assert services.ops.subscriber(30_005).status == "blocked"
        services.close()


@pytest.mark.parametrize("token", ["123456:wrong-token-for-this-emulator"])
async def test_terminal_announce_with_a_token_telegram_refuses_sends_nothing(store_path, token):
    async with BotAPIEmulator(tokens=[TOKEN]) as emu:
        settings = Settings(token=token, db_path=store_path, api_base_url=emu.base_url)
        services = Services.open(settings)
        services.ops.subscribe(1)
        err = io.StringIO()
        code = await asyncio.to_thread(cmd_announce, settings, topic="news", post="p055", text=None, at=None,
                                       yes=True, out=io.StringIO(), err=err)
        assert code == 2 and "Nothing was sent" in err.getvalue()
        assert services.ops.recent_broadcasts() == [] and emu.sent == []
        services.close()
