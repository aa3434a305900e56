"""The emulator must look like Telegram to a real python-telegram-bot client, or tests built on it lie."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import httpx
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, RetryAfter, TimedOut
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

from tests.emulator import BotAPIEmulator, parse_html

TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"
USER = 4242

# PTB 22.2+ warns inside RetryAfter.__init__ itself that retry_after will become a timedelta.
pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2.*retry_after")


@pytest.fixture
async def emu() -> AsyncIterator[BotAPIEmulator]:
    async with BotAPIEmulator(tokens=[TOKEN]) as emulator:
        yield emulator


@pytest.fixture
async def bot(emu: BotAPIEmulator) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=emu.base_url) as client:
        yield client


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(d, callback_data=d) for d in data]])


# ---------------------------------------------------------------- plain Bot
async def test_get_me_and_base_url(emu: BotAPIEmulator, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (123456, "moi_helper_bot", True)
    assert emu.base_url.startswith("http://127.0.0.1:") and emu.base_url.endswith("/bot")


async def test_send_html_with_keyboard_edit_and_answer_callback(emu: BotAPIEmulator, bot: Bot) -> None:
    msg = await bot.send_message(
        USER, "<b>Hello</b> &amp; <a href=\"https://www.moi.gov.tw\">MOI</a>", parse_mode=ParseMode.HTML,
        reply_markup=keyboard("yes", "no"), link_preview_options=LinkPreviewOptions(is_disabled=True),
    )
    assert msg.text == "Hello & MOI"
    assert [(e.type, e.offset, e.length) for e in msg.entities] == [("bold", 0, 5), ("text_link", 8, 3)]
    assert msg.reply_markup == keyboard("yes", "no")
    [record] = emu.messages_to(USER)
    assert record["parse_mode"] == "HTML" and record["link_preview_disabled"] is True
    assert record["visible_text"] == "Hello & MOI" and isinstance(record["date"], int)

    edited = await bot.edit_message_text("<i>Changed</i>", USER, msg.message_id, parse_mode="HTML",
                                         reply_markup=keyboard("ok"))
    assert edited.text == "Changed" and edited.edit_date is not None
    assert emu.sent[0]["text"] == "<i>Changed</i>" and emu.sent[0]["edits"] == 1
    with pytest.raises(BadRequest, match="(?i)message is not modified"):
        await bot.edit_message_text("<i>Changed</i>", USER, msg.message_id, parse_mode="HTML",
                                    reply_markup=keyboard("ok"))
    await bot.edit_message_reply_markup(USER, msg.message_id, reply_markup=keyboard("a", "b"))

    await emu.press_button(USER, emu.sent[0], "b")
    [update] = await bot.get_updates(timeout=0)
    query = update.callback_query
    assert query.data == "b" and query.chat_instance and query.from_user.id == USER
    assert query.message.message_id == msg.message_id
    assert await bot.answer_callback_query(query.id, text="Done") is True
    assert emu.callback_answers[-1]["text"] == "Done"
    with pytest.raises(BadRequest, match="(?i)query ID is invalid"):
        await bot.answer_callback_query(query.id)  # a query can be answered once
    with pytest.raises(ValueError, match="no button"):
        await emu.press_button(USER, emu.sent[0], "yes")  # that button is gone after the edit


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("a < b", 'Unsupported start tag ""'),
        ("line<br>break", 'Unsupported start tag "br"'),
        ("<p>para</p>", 'Unsupported start tag "p"'),
        ("<b>bold", "Can't find end tag"),
        ("<b><i>x</b></i>", "Unmatched end tag"),
        ("x</b>", "Unexpected end tag"),
        ('<span class="x">s</span>', 'must have class "tg-spoiler"'),
    ],
)
async def test_invalid_html_is_rejected(bot: Bot, text: str, error: str) -> None:
    with pytest.raises(BadRequest, match="(?i)can't parse entities") as info:
        await bot.send_message(USER, text, parse_mode=ParseMode.HTML)
    assert error.lower() in info.value.message.lower()


def test_valid_html_variants() -> None:
    text, entities = parse_html(
        '<strong>a</strong><em>b</em><ins>c</ins><del>d</del><tg-spoiler>e</tg-spoiler>'
        '<span class="tg-spoiler">f</span><pre><code class="language-py">g</code></pre>'
        '<blockquote expandable>h</blockquote> &lt;&gt;&quot;&#65;&#x42; &nbsp; 台灣'
    )
    assert text == 'abcdefgh <>"AB &nbsp; 台灣'
    assert {e["type"] for e in entities} >= {"bold", "italic", "underline", "strikethrough", "spoiler",
                                              "pre", "code", "expandable_blockquote"}


async def test_length_limits_count_visible_text(emu: BotAPIEmulator, bot: Bot) -> None:
    with pytest.raises(BadRequest, match="(?i)message is too long"):
        await bot.send_message(USER, "x" * 4097)
    with pytest.raises(BadRequest, match="(?i)message is too long"):
        await bot.send_message(USER, "<b>" + "台" * 4097 + "</b>", parse_mode="HTML")
    ok = await bot.send_message(USER, "<b>" + "台" * 4096 + "</b>", parse_mode="HTML")  # tags are free
    assert len(ok.text) == 4096
    with pytest.raises(BadRequest, match="(?i)message text is empty"):
        await bot.send_message(USER, "  \n ")
    with pytest.raises(BadRequest, match="(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(USER, "hi", reply_markup=keyboard("x" * 65))
    assert len(emu.sent) == 1


async def test_markdown_v2_reserved_characters(bot: Bot) -> None:
    with pytest.raises(BadRequest, match="(?i)Character '.' is reserved"):
        await bot.send_message(USER, "*Hi* there.", parse_mode=ParseMode.MARKDOWN_V2)
    msg = await bot.send_message(USER, "*Hi* there\\. [site](https://a.b/c)", parse_mode=ParseMode.MARKDOWN_V2)
    assert msg.text == "Hi there. site"


async def test_reply_parameters_delete_and_misc_methods(emu: BotAPIEmulator, bot: Bot) -> None:
    update = await emu.send_text(USER, "question")
    asked = update["message"]["message_id"]
    reply = await bot.send_message(USER, "answer", reply_to_message_id=asked, disable_web_page_preview=True)
    assert reply.reply_to_message.text == "question"
    assert emu.sent[-1]["reply_to_message_id"] == asked and emu.sent[-1]["link_preview_disabled"]
    with pytest.raises(BadRequest, match="(?i)replied not found"):
        await bot.send_message(USER, "x", reply_to_message_id=9999)
    assert await bot.delete_message(USER, reply.message_id)
    assert (USER, reply.message_id) in emu.deleted
    with pytest.raises(BadRequest, match="(?i)message to delete not found"):
        await bot.delete_message(USER, reply.message_id)
    assert await bot.delete_messages(USER, [asked, 12345])
    assert await bot.send_chat_action(USER, "typing")
    assert emu.chat_actions == [(USER, "typing")]
    assert await bot.set_my_commands([("start", "Start"), ("help", "Help")])
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
    with pytest.raises(BadRequest, match="(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([("Bad-Command", "x")])
    assert await bot.delete_my_commands() and await bot.get_my_commands() == ()
    assert await bot.set_chat_menu_button()
    chat = await bot.get_chat(USER)
    assert chat.id == USER and chat.type == "private"


async def test_offsets_limits_and_long_poll(emu: BotAPIEmulator, bot: Bot) -> None:
    emu.queue_updates(emu.make_text_update(USER + i, f"m{i}") for i in range(5))
    first = await bot.get_updates(limit=2)
    assert [u.message.text for u in first] == ["m0", "m1"]
    assert emu.pending_updates() == 5  # not confirmed until an offset says so
    rest = await bot.get_updates(offset=first[-1].update_id + 1)
    assert [u.message.text for u in rest] == ["m2", "m3", "m4"]
    assert emu.pending_updates() == 3 and emu.confirmed_offset == first[-1].update_id + 1
    assert await bot.get_updates(offset=rest[-1].update_id + 1, timeout=0) == ()
    assert emu.pending_updates() == 0

    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await bot.get_updates(timeout=1) == ()  # long poll answers [] after the timeout
    assert 0.9 <= loop.time() - started < 2

    async def later() -> None:
        await asyncio.sleep(0.2)
        await emu.send_text(USER, "/start@moi_helper_bot hi @moi_helper_bot")

    task = asyncio.create_task(later())
    started = loop.time()
    [update] = await bot.get_updates(timeout=5)  # wakes as soon as the update is queued
    await task
    assert loop.time() - started < 1.5
    types = [e.type for e in update.message.entities]
    assert types == ["bot_command", "mention"] and update.message.entities[0].length == 21


async def test_webhook_blocks_get_updates(emu: BotAPIEmulator, bot: Bot) -> None:
    assert await bot.set_webhook("https://example.invalid/hook", drop_pending_updates=True)
    assert (await bot.get_webhook_info()).url == "https://example.invalid/hook"
    with pytest.raises(Conflict, match="(?i)webhook is active"):
        await bot.get_updates()
    with pytest.raises(BadRequest, match="(?i)HTTPS URL"):
        await bot.set_webhook("http://plain")
    assert await bot.delete_webhook()
    assert await bot.get_updates() == ()


async def test_raw_http_json_query_unknown_token_and_method(emu: BotAPIEmulator) -> None:
    async with httpx.AsyncClient(base_url=emu.base_url.removesuffix("/bot")) as http:
        r = await http.post(f"/bot{TOKEN}/sendMessage", json={"chat_id": USER, "text": "json body"})
        assert r.status_code == 200 and r.json()["result"]["text"] == "json body"
        r = await http.get(f"/bot{TOKEN}/sendMessage", params={"chat_id": str(USER), "text": "123"})
        assert r.json()["result"]["text"] == "123"  # text stays a string even if it looks like JSON
        r = await http.post(f"/bot{TOKEN}/noSuchMethod")
        assert r.status_code == 404 and r.json()["description"] == "Not Found: method not found"
        r = await http.post("/bot999:WRONG/getMe")
        assert r.status_code == 401 and r.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    assert [m["text"] for m in emu.sent] == ["json body", "123"]
    with pytest.raises(InvalidToken, match="rejected"):
        async with Bot("999:WRONG", base_url=emu.base_url):  # initialize() calls getMe
            pass


# ---------------------------------------------------------------- fault injection
async def test_blocked_missing_deactivated(emu: BotAPIEmulator, bot: Bot) -> None:
    emu.blocked_chats.add(1)
    emu.missing_chats.add(2)
    emu.deactivated_chats.add(3)
    with pytest.raises(Forbidden, match="(?i)bot was blocked by the user"):
        await bot.send_message(1, "x")
    with pytest.raises(BadRequest, match="(?i)chat not found"):
        await bot.send_message(2, "x")
    with pytest.raises(Forbidden, match="(?i)user is deactivated"):
        await bot.send_message(3, "x")
    await bot.send_message(4, "x")
    assert [emu.delivered_count(c) for c in (1, 2, 3, 4)] == [0, 0, 0, 1]


async def test_flood_answers_retry_after(emu: BotAPIEmulator, bot: Bot) -> None:
    emu.flood(retry_after=2, times=1)
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(USER, "x")
    assert info.value.retry_after in (2, dt.timedelta(seconds=2))
    assert emu.delivered_count(USER) == 0
    await bot.send_message(USER, "x")  # only the next call was flooded
    assert emu.delivered_count(USER) == 1 and not emu.duplicates()
    await bot.send_message(USER, "x")
    assert emu.duplicates() == {(USER, "x"): 2}


@pytest.mark.parametrize("deliver", [True, False])
async def test_delay_provokes_timeout(emu: BotAPIEmulator, deliver: bool) -> None:
    emu.delay_next("sendMessage", 1.0, deliver=deliver)
    async with Bot(TOKEN, base_url=emu.base_url, request=HTTPXRequest(read_timeout=0.3)) as slow:
        with pytest.raises(TimedOut):
            await slow.send_message(USER, "late")
        await asyncio.sleep(1.0)  # the server-side delay is over either way
        assert emu.delivered_count(USER) == (1 if deliver else 0)
        await slow.send_message(USER, "on time")  # the delay applied to one call only
    assert emu.messages_to(USER)[-1]["text"] == "on time"


async def test_rate_enforcement(emu: BotAPIEmulator, bot: Bot) -> None:
    emu.enforce_rate(global_per_s=3, per_chat_per_s=1)
    await bot.send_message(1, "a")
    with pytest.raises(RetryAfter):
        await bot.send_message(1, "b")  # second message to one chat within a second
    await bot.send_message(2, "a")
    await bot.send_message(3, "a")
    with pytest.raises(RetryAfter):
        await bot.send_message(4, "a")  # fourth message within a second overall
    assert emu.rate_violations == 2 and len(emu.sent) == 3


# ---------------------------------------------------------------- real Application, polling
async def test_application_polling_end_to_end(emu: BotAPIEmulator) -> None:
    seen: list[int] = []

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(update.update_id)
        await update.message.reply_html("<b>Welcome</b>", reply_markup=keyboard("faq"))

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(update.update_id)
        await update.message.reply_text(f"echo: {update.message.text}")

    async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(update.update_id)
        await update.callback_query.answer()
        await update.callback_query.edit_message_text(f"chose {update.callback_query.data}")

    app: Application = ApplicationBuilder().token(TOKEN).base_url(emu.base_url).build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    app.add_handler(CallbackQueryHandler(button))
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=1)
        await emu.send_text(USER, "/start")
        [welcome] = await emu.wait_for_messages(USER, 1, timeout=5)
        assert welcome["text"] == "<b>Welcome</b>" and welcome["visible_text"] == "Welcome"
        await emu.send_text(USER, "hello 你好")
        await emu.wait_for_messages(USER, 2, timeout=5)
        await emu.press_button(USER, welcome, "faq")
        await emu.wait_for(lambda: emu.sent[0]["edits"] == 1, timeout=5)
        await emu.wait_for(lambda: emu.callback_answers, timeout=5)
        await app.updater.stop()
        await app.stop()
    assert [m["visible_text"] for m in emu.messages_to(USER)] == ["chose faq", "echo: hello 你好"]
    assert len(seen) == len(set(seen)) == 3  # every update handled exactly once
    assert emu.pending_updates() == 0  # the updater's final getUpdates confirmed everything
    assert ("deleteWebhook" in {m for m, _ in emu.calls}) and emu.webhook["url"] == ""


async def test_wait_for_timeout_dumps_state(emu: BotAPIEmulator) -> None:
    with pytest.raises(TimeoutError, match="message\\(s\\) to chat 1") as info:
        await emu.wait_for_messages(1, 1, timeout=0.2)
    assert "pending updates" in str(info.value)


async def test_non_text_updates(emu: BotAPIEmulator, bot: Bot) -> None:
    await emu.send_sticker(USER)
    await emu.send_photo(USER, caption="look")
    await emu.send_text(USER, "/help", chat_type="group", chat_id=-100)
    sticker, photo, group = await bot.get_updates()
    assert sticker.message.sticker.emoji == "👍"
    assert photo.message.photo[-1].width == 1280 and photo.message.caption == "look"
    assert group.message.chat.type == "group" and group.message.chat.id == -100
