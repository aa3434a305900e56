"""Bursts are read, not dropped (bot/intake.py): forwards read together, captions read as text, a
flood merged into fewer replies with one notice, nothing confirmed that was neither handled nor
skipped with a reason.

The intake tests run the real Intake in front of the real PTB Application of the bot_app fixture
(a recording transport instead of Telegram); the last test runs `python -m bot` on the emulator.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections import Counter
from dataclasses import dataclass

import pytest

from bot.intake import Intake
from tests.conftest import STAFF_ID
from tests.emulator import BotAPIEmulator
from tests.test_e2e import TOKEN, start_bot, stop_bot

# A victim forwards their chat with a broker: read message by message, only two of these call for
# help; read together they describe someone locked in, unpaid and threatened.
BROKER_CHAT = [
    "Agent Chen: I keep your passport until you pay the fee",
    "Me: I need it back, I want to go home",
    "Agent Chen: you cannot leave the dormitory at night",
    "Agent Chen: if you complain I send you back",
    "Me: my salary for 3 months is not paid",
    "Agent Chen: pay the fee first",
    "Me: please give my ARC",
    "Agent Chen: no",
    "Me: ok",
    "Agent Chen: work tomorrow 6am",
]
_ids = itertools.count(50_000)


def raw_message(user_id: int, text: str | None = None, *, forwarded: bool = False, caption: str | None = None,
                chat_type: str = "private", chat_id: int | None = None) -> dict:
    """An update as Telegram sends it (JSON), the way the intake receives it."""
    n = next(_ids)
    message: dict = {"message_id": n, "date": int(time.time()),
                     "chat": {"id": chat_id or user_id, "type": chat_type, "first_name": "Mai"},
                     "from": {"id": user_id, "is_bot": False, "first_name": "Mai", "language_code": "en"}}
    if text is not None:
        message["text"] = text
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    if caption is not None:
        message["caption"] = caption
        message["photo"] = [{"file_id": f"ph{n}", "file_unique_id": f"u{n}", "width": 90, "height": 90}]
    if forwarded:
        message["forward_origin"] = {"type": "hidden_user", "sender_user_name": "Agent Chen", "date": int(time.time())}
    return {"update_id": n, "message": message}


def to_chat(app, chat_id: int) -> list[dict]:
    return [m for m in app.request_log.sent() if int(m["chat_id"]) == chat_id]


async def submit_all(intake: Intake, raws: list[dict], gap: float = 0.0) -> list[asyncio.Future]:
    done = []
    for raw in raws:
        done.append(await intake.submit(raw))
        if gap:
            await asyncio.sleep(gap)
    return done


async def test_ten_forwards_at_once_get_one_reply_that_reads_them_together(bot_app, services):
    intake = Intake(bot_app, services, window=0.3)
    done = await submit_all(intake, [raw_message(601, text, forwarded=True) for text in BROKER_CHAT])
    assert to_chat(bot_app, 601) == []  # nothing answered while the burst is open
    await asyncio.wait_for(asyncio.gather(*done), 5)
    [reply] = to_chat(bot_app, 601)
    assert "I read your 10 messages together" in reply["text"]
    assert "1955" in reply["text"]  # the labour hotline: unpaid wages
    assert "110" in reply["text"]  # the police: locked in, threatened
    assert [b["callback_data"] for row in reply["reply_markup"]["inline_keyboard"] for b in row] == ["clear"]
    assert services.ops.skipped_updates() == []


async def test_clear_this_chat_after_a_burst_deletes_every_message_of_it(bot_app, services):
    intake = Intake(bot_app, services, window=0.2)
    raws = [raw_message(602, text, forwarded=True) for text in BROKER_CHAT[:4]]
    await asyncio.gather(*(await submit_all(intake, raws)))
    [_card] = to_chat(bot_app, 602)
    card_id = bot_app.request_log._message_id  # the recording transport numbers the bot's messages
    await bot_app.process_update(bot_app.updates.press("clear", user_id=602, message_id=card_id))
    [deleted] = bot_app.request_log.sent("deleteMessages")
    assert {int(i) for i in deleted["message_ids"]} == {r["message"]["message_id"] for r in raws} | {card_id}


async def test_a_captioned_photo_is_read_as_text(bot_app, services):
    intake = Intake(bot_app, services, window=0.1)
    await (await intake.submit(raw_message(603, caption="my broker took my passport")))
    [reply] = to_chat(bot_app, 603)
    assert "I can only read text" not in reply["text"]
    assert "1955" in reply["text"] or "110" in reply["text"]


async def test_a_captioned_photo_is_read_as_text_by_the_handlers_too(bot_app):
    from telegram import Update

    update = Update.de_json(raw_message(604, caption="my broker took my passport"), bot_app.bot)
    await bot_app.process_update(update)
    [reply] = to_chat(bot_app, 604)
    assert "I can only read text" not in reply["text"]
    assert reply["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "clear"


async def test_thirty_messages_in_five_seconds_are_all_read_in_a_few_replies(bot_app, services):
    # The default limit (20 a minute, 8 at once): the first 8 are answered one by one, the rest are
    # merged; one notice says so; nothing is dropped or skipped.
    intake = Intake(bot_app, services, window=0.3, per_minute=20)
    texts = [f"question number {n} about passports" for n in range(1, 31)]
    done = await submit_all(intake, [raw_message(605, text) for text in texts], gap=5 / 30)
    await asyncio.wait_for(asyncio.gather(*done), 15)
    replies = [m["text"] for m in to_chat(bot_app, 605)]
    notices = [r for r in replies if "read them together" in r]
    assert len(notices) == 1
    answers = [r for r in replies if r not in notices]
    assert 9 <= len(answers) <= 12, replies  # 8 one by one, then a merged reply every 3 seconds at most
    assert services.ops.skipped_updates() == []
    read = sum(int(m.group(1)) if (m := re.match(r"I read your (\d+) messages together", a)) else 1 for a in answers)
    assert read == 30


async def test_what_cannot_be_read_while_over_the_limit_gets_one_notice_and_a_logged_reason(bot_app, services):
    intake = Intake(bot_app, services, window=0.2, per_minute=1)  # 8 at once, then one a minute
    stickers = []
    for _ in range(12):
        raw = raw_message(606)
        raw["message"]["sticker"] = {"file_id": "s", "file_unique_id": "u", "type": "regular", "width": 512,
                                     "height": 512, "is_animated": False, "is_video": False}
        stickers.append(raw)
    done = await submit_all(intake, stickers)
    await asyncio.wait_for(asyncio.gather(*done), 5)
    replies = [m["text"] for m in to_chat(bot_app, 606)]
    assert len(replies) == 9 and sum("very fast" in r for r in replies) == 1
    skipped = services.ops.skipped_updates(50)
    assert len(skipped) == 4 and all(reason == "flood: over the per-person limit" for *_, reason, _ in skipped)


async def test_commands_over_the_limit_are_delayed_and_read_not_refused(bot_app, services):
    intake = Intake(bot_app, services, window=0.2, per_minute=20)  # 8 at once; a merged reply every 3 s
    done = await submit_all(intake, [raw_message(610, "/hotline passport") for _ in range(10)])
    await asyncio.wait_for(asyncio.gather(*done), 10)
    replies = [m["text"] for m in to_chat(bot_app, 610)]
    assert len(replies) == 10 and sum("read them together" in r for r in replies) == 1
    assert "I read your 2 messages together" in replies[-1]
    assert services.ops.skipped_updates() == []


async def test_a_command_after_open_forwards_is_answered_after_them(bot_app, services):
    intake = Intake(bot_app, services, window=5.0)
    forwarded = [raw_message(607, text, forwarded=True) for text in BROKER_CHAT[:3]]
    done = await submit_all(intake, [*forwarded, raw_message(607, "/help")])
    assert all(d.done() for d in done)  # the command closed the burst: no 5 s wait
    first, second = to_chat(bot_app, 607)
    assert "I read your 3 messages together" in first["text"] and "/news" in second["text"]


async def test_staff_and_group_messages_are_not_held(bot_app, services):
    intake = Intake(bot_app, services, window=5.0)
    done = await submit_all(intake, [raw_message(STAFF_ID, "/stats"),
                                     raw_message(608, "@moi_helper_bot eswatini immigration MOU", chat_type="group",
                                                 chat_id=-608)])
    assert all(d.done() for d in done)
    assert len(to_chat(bot_app, STAFF_ID)) == 1 and len(to_chat(bot_app, -608)) == 1


RIGHT_REFERRAL = ("110", "1955", "(02) 2388-3095")  # police, the labour hotline, the NIA trafficking line


@dataclass
class ForwardsResult:
    people: int
    replies: list[int]  # replies each person got to their ten forwards
    right_referral: int  # people whose one reply was the referral card with every number it needs
    seconds_after_last: list[float]  # from a person's last forward to their reply
    log_tail: str = ""

    def line(self) -> str:
        waits = sorted(self.seconds_after_last) or [float("nan")]
        return (f"people={self.people} one_reply={sum(n == 1 for n in self.replies)} "
                f"replies_per_burst={dict(sorted(Counter(self.replies).items()))} right_referral={self.right_referral} "
                f"reply_after_last_forward p50={waits[len(waits) // 2]:.2f}s max={waits[-1]:.2f}s")


async def forwards_run(workdir, people: int = 1, first_user: int = 30_000) -> ForwardsResult:
    """`python -m bot` on the emulator; `people` victims each forward BROKER_CHAT (ten messages) at once."""
    async with BotAPIEmulator(tokens=[TOKEN]) as emu:
        proc = await start_bot(emu, workdir)
        try:
            await emu.send_text(first_user, "/start")
            await emu.wait_for_messages(first_user, 1, timeout=30)
            emu.clear_records()
            users = [first_user + n for n in range(people)]
            origin = {"type": "hidden_user", "sender_user_name": "Agent Chen", "date": int(time.time())}
            sent_at = {}
            for user in users:
                emu.queue_updates(emu.make_message_update(user, text=text, forward_origin=origin) for text in BROKER_CHAT)
                sent_at[user] = time.monotonic()
            replied_at = {}

            def all_replied() -> bool:
                for user in users:
                    if user not in replied_at and emu.messages_to(user):
                        replied_at[user] = time.monotonic()
                return len(replied_at) == len(users) and emu.pending_updates() == 0

            await emu.wait_for(all_replied, 60, "every burst answered and confirmed")
            await asyncio.sleep(1.0)  # a second reply to anyone would show up now
            replies = {user: emu.messages_to(user) for user in users}
        finally:
            code, log = await stop_bot(proc)
    assert code == 0, log[-3000:]
    right = sum(1 for msgs in replies.values() if len(msgs) == 1 and "I read your 10 messages together" in msgs[0]["text"]
                and all(number in msgs[0]["text"] for number in RIGHT_REFERRAL))
    return ForwardsResult(people, [len(m) for m in replies.values()], right,
                          [replied_at[u] - sent_at[u] for u in users], log[-3000:])


@pytest.mark.slow
async def test_the_bot_process_answers_ten_forwards_with_one_referral(tmp_path):
    result = await forwards_run(tmp_path, people=1)
    assert result.replies == [1] and result.right_referral == 1, f"{result.line()}\n{result.log_tail}"
