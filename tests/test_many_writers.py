"""One store, many writers: `python -m bot import` and `post add` beside the running bot process
(on the loopback emulator), then a staff /post in Telegram. Nothing is lost, no id is given twice,
and the bot answers with the imported posts within a few seconds, without a restart."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from bot.store import PostStore
from tests.emulator import BotAPIEmulator
from tests.test_e2e import ROOT, TOKEN, start_bot, stop_bot

STAFF = 4545
IMPORTED = [{"id": f"imp{n}", "title": f"Kinmen ferry timetable notice number {word}", "date": f"2026-03-0{n}",
             "category": "announcement", "body": f"The {word} Kinmen ferry timetable notice of the ministry."}
            for n, word in enumerate(["alpha", "bravo", "charlie", "delta", "echo"], start=1)]


async def cli(*args: str, store) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "BOT_"))}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", *args, cwd=ROOT,
                                                env={**env, "BOT_DB_PATH": str(store)},
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode()


def _buttons(message: dict) -> list[str]:
    return [b.get("callback_data", "") for row in (message.get("reply_markup") or {}).get("inline_keyboard", [])
            for b in row]


async def test_the_cli_writing_beside_the_bot_loses_nothing(tmp_path):
    store = tmp_path / "store.json"
    source = tmp_path / "ferries.json"
    source.write_text(json.dumps(IMPORTED), encoding="utf-8")
    async with BotAPIEmulator(tokens=[TOKEN]) as emu:
        proc = await start_bot(emu, tmp_path, BOT_STAFF_IDS=str(STAFF))
        try:
            await emu.send_text(7101, "/start")
            await emu.wait_for_messages(7101, 1, timeout=30)
            (code_import, out_import), (code_add, out_add) = await asyncio.gather(
                cli("import", str(source), store=store),
                cli("post", "add", "--title", "Terminal notice about the Matsu ferry", "--body",
                    "Posted from the terminal.", "--category", "announcement", store=store))
            assert (code_import, code_add) == (0, 0), out_import + out_add
            assert "5 added" in out_import and "published m0001" in out_add

            # The running bot sees the new posts within a few seconds, without a restart.
            answered = False
            for _ in range(20):
                emu.clear_records()
                await emu.send_text(7101, "Kinmen ferry timetable notice charlie")
                [reply] = await emu.wait_for_messages(7101, 1, timeout=10)
                if "number charlie" in reply["text"]:
                    answered = True
                    break
                await asyncio.sleep(0.5)
            assert answered, reply["text"][:200]

            # A staff member publishes in Telegram: the store is re-read under the lock, the id is new.
            for text in ("/post", "Staff notice about the Penghu ferry", "Posted from Telegram."):
                before = len(emu.messages_to(STAFF))
                await emu.send_text(STAFF, text)
                await emu.wait_for_messages(STAFF, before + 1, timeout=10)
            category = emu.messages_to(STAFF)[-1]
            [pick] = [d for d in _buttons(category) if d.endswith(":announcement")]
            await emu.press_button(STAFF, category, pick)
            await emu.wait_for(lambda: "link" in emu.messages_to(STAFF)[-1]["text"].lower(), 10, "the link step")
            before = len(emu.messages_to(STAFF))
            await emu.send_text(STAFF, "/skip")
            await emu.wait_for(lambda: any(d.startswith("st:post_ok:") for d in _buttons(emu.messages_to(STAFF)[-1])),
                               10, "the preview's buttons")
            confirm = emu.messages_to(STAFF)[-1]
            [ok] = [d for d in _buttons(confirm) if d.startswith("st:post_ok:")]
            await emu.press_button(STAFF, confirm, ok)
            await emu.wait_for(lambda: "m0002" in emu.messages_to(STAFF)[-1]["text"], 10, "published m0002")
        finally:
            code, log = await stop_bot(proc)
    assert code == 0, log[-3000:]
    posts = {p.id: p for p in PostStore(store).posts()}
    assert {p["id"] for p in IMPORTED} <= set(posts)  # no imported post deleted
    assert posts["m0001"].title == "Terminal notice about the Matsu ferry"  # the CLI post kept
    assert posts["m0002"].title == "Staff notice about the Penghu ferry"  # the staff post got its own id
    assert len(posts) == 131 + 5 + 2
