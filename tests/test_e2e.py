"""End to end: `python -m bot` as its own process, talking HTTP to a loopback Bot API emulator."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from pathlib import Path

import pytest

from bot.config import BUNDLED_STORE
from tests.emulator import BotAPIEmulator

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "987654321:AAFakeTokenForTheEndToEndTests_xyz"


async def start_bot(emu: BotAPIEmulator, tmp_path: Path, **env_extra) -> asyncio.subprocess.Process:
    store = tmp_path / "store.json"
    if not store.exists():
        shutil.copy(BUNDLED_STORE, store)
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": emu.base_url,
           "BOT_DB_PATH": str(store), "BOT_STAFF_IDS": "", "BOT_LOG_LEVEL": "INFO", **env_extra}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)


async def stop_bot(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=20)
    return proc.returncode, out.decode(errors="replace")


@pytest.fixture
async def emulator():
    async with BotAPIEmulator(tokens=[TOKEN]) as emu:
        yield emu


async def test_a_citizen_talks_to_the_bot_process(emulator, tmp_path):
    proc = await start_bot(emulator, tmp_path)
    try:
        user = 5001
        await emulator.send_text(user, "/start")
        [welcome] = await emulator.wait_for_messages(user, 1, timeout=30)
        assert "Ministry of the Interior" in welcome["text"]
        assert emulator.commands, "the command menu was not set at start-up"

        await emulator.send_text(user, "taiwan indonesa 3rd immigration meeting jakarta lost passports")
        replies = await emulator.wait_for_messages(user, 2, timeout=10)
        answer = replies[1]
        assert "Indonesia" in answer["text"] and "third bilateral meeting" in answer["text"]
        more = [b for row in answer["reply_markup"]["inline_keyboard"] for b in row if b["text"] == "More results"]
        assert more

        await emulator.press_button(user, answer, more[0]["callback_data"])
        replies = await emulator.wait_for_messages(user, 3, timeout=10)
        assert "More results" in replies[2]["text"]

        await emulator.send_sticker(user)
        replies = await emulator.wait_for_messages(user, 4, timeout=10)
        assert "type your question" in replies[3]["text"]
    finally:
        code, log = await stop_bot(proc)
    assert code == 0, log
    assert TOKEN not in log and TOKEN.split(":")[1] not in log
    assert emulator.pending_updates() == 0


async def test_a_second_process_on_the_same_store_refuses_to_start(emulator, tmp_path):
    first = await start_bot(emulator, tmp_path)
    try:
        await emulator.send_text(6001, "/start")
        await emulator.wait_for_messages(6001, 1, timeout=30)
        second = await start_bot(emulator, tmp_path)
        out, _ = await asyncio.wait_for(second.communicate(), timeout=30)  # it must exit by itself
        assert second.returncode != 0
        assert "already using this store" in out.decode()
    finally:
        code, _ = await stop_bot(first)
    assert code == 0


async def test_a_poll_the_library_cannot_read_does_not_stop_the_bot_process(emulator, tmp_path):
    from tests.test_polling import poll_message

    # Queued before the bot starts: it comes in the same getUpdates batch as the message behind it.
    emulator.queue_updates([poll_message(5101)])
    await emulator.send_text(5102, "eswatini immigration MOU")
    proc = await start_bot(emulator, tmp_path)
    try:
        [reply] = await emulator.wait_for_messages(5102, 1, timeout=30)
        assert "Swaziland" in reply["text"]
        await emulator.wait_for(lambda: emulator.pending_updates() == 0, 10, "both updates confirmed")
        assert proc.returncode is None  # still up
        await emulator.send_text(5102, "/help")  # and still answering
        await emulator.wait_for_messages(5102, 2, timeout=10)
    finally:
        code, log = await stop_bot(proc)
    assert code == 0, log
    assert "skipped: unreadable: TypeError" in log and "Which office" not in log
