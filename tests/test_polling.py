"""The polling loop: an update is confirmed to Telegram only after it was handled (or skipped on
purpose), no single update can stop it, and its mark belongs to the bot, not to the store."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import UTC, datetime, timedelta

from bot.app import build_application
from bot.intake import Intake
from bot.polling import MAX_CRASHES, poll_until_stopped
from tests.conftest import BOT_ID, TOKEN
from tests.emulator import BotAPIEmulator

OTHER_TOKEN = "222333444:AAOtherBotTokenForTheMarkTest_abcdefg"


def poll_message(user_id: int, message_id: int = 1) -> dict:
    """A message holding a poll of a newer Bot API: no persistent_id, allows_revoting or members_only,
    which python-telegram-bot 22 cannot read (TypeError)."""
    return {"message": {
        "message_id": message_id, "date": int(time.time()),
        "chat": {"id": user_id, "type": "private", "first_name": "Poll"},
        "from": {"id": user_id, "is_bot": False, "first_name": "Poll"},
        "poll": {"id": "5001", "question": "Which office?", "total_voter_count": 0, "is_closed": False,
                 "is_anonymous": True, "type": "regular", "allows_multiple_answers": False,
                 "options": [{"text": "Taipei", "voter_count": 0}, {"text": "Kaohsiung", "voter_count": 0}]}}}


async def _poll_once(settings, services, emu, wait_for_chat: int | None, token: str = TOKEN) -> None:
    app = build_application(dataclasses.replace(settings, api_base_url=emu.base_url, token=token), services,
                            rate_limit=False)
    stop = asyncio.Event()
    async with app:
        task = asyncio.create_task(poll_until_stopped(app, Intake(app, services), stop, timeout=1))
        if wait_for_chat is not None:
            await emu.wait_for_messages(wait_for_chat, 1, timeout=15)
        else:
            await asyncio.sleep(2.5)
        stop.set()
        await asyncio.wait_for(task, timeout=10)


async def test_each_handled_update_is_stored_and_then_confirmed(settings, services):
    async with BotAPIEmulator(tokens=[TOKEN]) as emu:
        update = await emu.send_text(9101, "nauru police agreement")
        await _poll_once(settings, services, emu, wait_for_chat=9101)
        assert services.ops.last_update_id(BOT_ID) == update["update_id"]
        assert emu.pending_updates() == 0
        assert len(emu.messages_to(9101)) == 1


async def test_an_update_handled_before_a_restart_is_not_answered_twice(settings, services):
    async with BotAPIEmulator(tokens=[TOKEN]) as emu:
        first = await emu.send_text(9102, "nauru police agreement")
        services.ops.set_last_update_id(BOT_ID, first["update_id"])  # handled, but the kill came before the confirm
        await emu.send_text(9103, "eswatini immigration MOU")
        await _poll_once(settings, services, emu, wait_for_chat=9103)
        assert emu.messages_to(9102) == []
        assert len(emu.messages_to(9103)) == 1


async def test_after_a_quiet_week_lower_update_ids_are_still_answered(settings, services):
    # Telegram picks the next update_id at random after a week without updates.
    services.ops.set_last_update_id(BOT_ID, 10_000_000)
    week_ago = (datetime.now(UTC) - timedelta(days=8)).isoformat()
    services.ops._q("UPDATE meta SET value = ? WHERE key = ?", (f"10000000|{week_ago}", f"last_update:{BOT_ID}"))
    async with BotAPIEmulator(tokens=[TOKEN]) as emu:
        await emu.send_text(9104, "nauru police agreement")
        await _poll_once(settings, services, emu, wait_for_chat=9104)
        assert len(emu.messages_to(9104)) == 1


async def test_the_mark_of_one_bot_does_not_make_another_bot_skip_its_updates(settings, services):
    # The same state database, first used by the bot of TOKEN up to a high update id, is pointed at
    # another bot (a new token): that bot's lower ids are new to it, not "already handled".
    services.ops.set_last_update_id(BOT_ID, 10_000_000)
    async with BotAPIEmulator(tokens=[OTHER_TOKEN]) as emu:
        update = await emu.send_text(9105, "nauru police agreement")
        await _poll_once(settings, services, emu, wait_for_chat=9105, token=OTHER_TOKEN)
        assert len(emu.messages_to(9105)) == 1
        assert services.ops.last_update_id(222333444) == update["update_id"]
        assert services.ops.last_update_id(BOT_ID) == 10_000_000


async def test_an_update_the_library_cannot_read_is_skipped_and_the_next_one_answered(settings, services, caplog):
    async with BotAPIEmulator(tokens=[TOKEN]) as emu:
        [poll] = emu.queue_updates([poll_message(9106)])
        after = await emu.send_text(9107, "eswatini immigration MOU")
        await _poll_once(settings, services, emu, wait_for_chat=9107)
        assert len(emu.messages_to(9107)) == 1
        assert emu.pending_updates() == 0  # the poll was confirmed too: Telegram will not send it again
        assert services.ops.last_update_id(BOT_ID) == after["update_id"]
    [(bot_id, update_id, kind, reason, _)] = services.ops.skipped_updates()
    assert (bot_id, update_id, kind) == (BOT_ID, poll["update_id"], "message")
    assert reason == "unreadable: TypeError"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert f"update {poll['update_id']} (message) skipped" in logged
    assert "Which office" not in logged and "Kaohsiung" not in logged  # its content is not logged


async def test_an_update_in_hand_when_the_bot_died_three_times_is_skipped(settings, services):
    async with BotAPIEmulator(tokens=[TOKEN]) as emu:
        deadly = await emu.send_text(9108, "nauru police agreement")
        after = await emu.send_text(9109, "eswatini immigration MOU")
        for _ in range(MAX_CRASHES):  # three runs that each died while handling it
            services.ops.begin_update(BOT_ID, deadly["update_id"])
        await _poll_once(settings, services, emu, wait_for_chat=9109)
        assert emu.messages_to(9108) == []
        assert len(emu.messages_to(9109)) == 1
        assert services.ops.last_update_id(BOT_ID) == after["update_id"]
    [(_, update_id, _, reason, _)] = services.ops.skipped_updates()
    assert update_id == deadly["update_id"] and "died 3 times" in reason


async def test_an_update_in_hand_at_one_kill_is_handled_again(settings, services):
    async with BotAPIEmulator(tokens=[TOKEN]) as emu:
        once = await emu.send_text(9110, "nauru police agreement")
        services.ops.begin_update(BOT_ID, once["update_id"])  # one run died holding it: try again
        await _poll_once(settings, services, emu, wait_for_chat=9110)
        assert len(emu.messages_to(9110)) == 1
        assert services.ops.skipped_updates() == []
