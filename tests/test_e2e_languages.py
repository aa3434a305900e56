"""The bot process on the loopback emulator, in the person's language and in danger.

Issue acceptance through the Telegram path: a Chinese question from an English client gets a Chinese
reply with the post's Chinese title; an Indonesian question gets the Indonesian interface; a contact
question gets one short card without research notes; /hotline reaches every line; a caller saying an
account is frozen and a Thai sextortion message get the right referral card first."""

from __future__ import annotations

import json
import re

import pytest

from bot.config import BUNDLED_STORE, DATA_DIR
from tests.emulator import BotAPIEmulator
from tests.test_e2e import TOKEN, start_bot, stop_bot


@pytest.fixture
async def emulator():
    async with BotAPIEmulator(tokens=[TOKEN]) as emu:
        yield emu


def _store() -> dict:
    data = json.loads(BUNDLED_STORE.read_text(encoding="utf-8"))
    return {"posts": {r["id"]: r for r in data["posts"].values()},
            "contacts": {r["id"]: r for r in data["contacts"].values()}}


def _buttons(message: dict) -> list[dict]:
    return [b for row in message.get("reply_markup", {}).get("inline_keyboard", []) for b in row]


async def test_replies_come_in_the_language_of_the_message(emulator, tmp_path):
    store = _store()
    indonesian = json.loads((DATA_DIR / "i18n" / "id.json").read_text(encoding="utf-8"))
    proc = await start_bot(emulator, tmp_path)
    try:
        await emulator.send_text(7001, "壽山國家自然公園管理處在哪一年揭牌？", language_code="en")
        [reply] = await emulator.wait_for_messages(7001, 1, timeout=30)
        assert store["posts"]["p072"]["i18n"]["zh-TW"]["title"] in reply["text"]

        await emulator.send_text(7002, "ada berita terbaru apa dari kementerian?", language_code="en")
        [reply] = await emulator.wait_for_messages(7002, 1, timeout=10)
        heading = re.sub(r"<[^>]+>", "", indonesian["list_heading"])
        assert heading in reply["text"]

        await emulator.send_text(7003, "what is the phone number of the 1990 hotline and its hours")
        [reply] = await emulator.wait_for_messages(7003, 1, timeout=10)
        assert "1990" in reply["text"]
        assert len(reply["text"].splitlines()) <= 8
        notes = store["contacts"]["c07"]["notes"]
        assert notes[:40] not in reply["text"] and "Verified" not in reply["text"]
    finally:
        code, log = await stop_bot(proc)
    assert code == 0, log


async def test_hotline_directory_reaches_every_line(emulator, tmp_path):
    store = _store()
    proc = await start_bot(emulator, tmp_path)
    try:
        user = 7101
        await emulator.send_text(user, "/hotline")
        [page] = await emulator.wait_for_messages(user, 1, timeout=30)
        texts = [page["text"]]
        for _ in range(len(store["contacts"])):
            nxt = [b for b in _buttons(page) if b["text"].endswith("»")]
            if not nxt:
                break
            before = len(emulator.edits)
            await emulator.press_button(user, page, nxt[0]["callback_data"])
            await emulator.wait_for(lambda before=before: len(emulator.edits) > before, 10, "the next page")
            page = emulator.messages_to(user)[-1]
            texts.append(page["text"])
        text = "\n".join(texts)
        for contact in store["contacts"].values():
            assert contact["phone"] in text, contact["phone"]
    finally:
        code, log = await stop_bot(proc)
    assert code == 0, log


async def test_people_in_danger_get_the_right_card_first(emulator, tmp_path):
    proc = await start_bot(emulator, tmp_path)
    try:
        await emulator.send_text(7201, "someone is calling me saying my bank account is frozen and i must transfer money now")
        [card] = await emulator.wait_for_messages(7201, 1, timeout=30)
        first_lines = card["text"].split("\n\n", 2)
        assert "165" in "\n".join(first_lines[:3])
        assert card["link_preview_disabled"]
        assert any(b["callback_data"] == "clear" for b in _buttons(card))

        await emulator.send_text(7202, "มีคนอัดคลิปตอนฉันเปลือยผ่านวิดีโอคอล แล้วขู่ว่าจะส่งให้เพื่อนทุกคนถ้าไม่โอนเงินให้")
        [card] = await emulator.wait_for_messages(7202, 1, timeout=10)
        assert "110" in card["text"] and "โทร" in card["text"]
    finally:
        code, log = await stop_bot(proc)
    assert code == 0, log
