"""The polling loop: an update is confirmed to Telegram only after it was handled."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

from bot.app import build_application
from bot.polling import poll_until_stopped
from tests.conftest import TOKEN
from tests.emulator import BotAPIEmulator


async def _poll_once(settings, services, emu, wait_for_chat: int | None) -> None:
    app = build_application(dataclasses.replace(settings, api_base_url=emu.base_url), services, rate_limit=False)
    stop = asyncio.Event()
    async with app:
        task = asyncio.create_task(poll_until_stopped(app, services.ops, stop, timeout=1))
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
        assert services.ops.last_update_id() == update["update_id"]
        assert emu.pending_updates() == 0
        assert len(emu.messages_to(9101)) == 1


async def test_an_update_handled_before_a_restart_is_not_answered_twice(settings, services):
    async with BotAPIEmulator(tokens=[TOKEN]) as emu:
        first = await emu.send_text(9102, "nauru police agreement")
        services.ops.set_last_update_id(first["update_id"])  # handled, but the kill came before the confirm
        await emu.send_text(9103, "eswatini immigration MOU")
        await _poll_once(settings, services, emu, wait_for_chat=9103)
        assert emu.messages_to(9102) == []
        assert len(emu.messages_to(9103)) == 1


async def test_after_a_quiet_week_lower_update_ids_are_still_answered(settings, services):
    # Telegram picks the next update_id at random after a week without updates.
    services.ops.set_last_update_id(10_000_000)
    week_ago = (datetime.now(UTC) - timedelta(days=8)).isoformat()
    services.ops._q("UPDATE meta SET value = ? WHERE key = 'last_update'", (f"10000000|{week_ago}",))
    async with BotAPIEmulator(tokens=[TOKEN]) as emu:
        await emu.send_text(9104, "nauru police agreement")
        await _poll_once(settings, services, emu, wait_for_chat=9104)
        assert len(emu.messages_to(9104)) == 1
