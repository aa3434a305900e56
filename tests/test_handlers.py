"""Handlers through a real PTB Application: real Update objects, process_update, a recording transport."""

from __future__ import annotations

import re

from bot import callbacks
from bot.app import _post_init, handler_table, menu_commands
from bot.assistant import CITIZEN_COMMANDS
from tests.conftest import BOT_USERNAME


def _last_text(app) -> str:
    return app.request_log.sent()[-1]["text"]


def _buttons(message: dict) -> list[dict]:
    markup = message.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


async def test_start_shows_welcome_with_menu_keyboard(bot_app):
    await bot_app.process_update(bot_app.updates.text("/start"))
    sent = bot_app.request_log.sent()[-1]
    assert "Ministry of the Interior" in sent["text"]
    assert "1996" in sent["text"]
    assert "keyboard" in sent["reply_markup"]


async def test_start_deep_link_opens_the_post(bot_app):
    await bot_app.process_update(bot_app.updates.text("/start p055"))
    sent = bot_app.request_log.sent()[-1]
    assert "zero time difference" in sent["text"]
    assert any(b.get("url", "").startswith("https://www.moi.gov.tw") for b in _buttons(sent))


async def test_question_with_typos_gets_the_post_with_read_more_and_more_results(bot_app):
    await bot_app.process_update(bot_app.updates.text("philipines MOU human trafficing"))
    sent = bot_app.request_log.sent()[-1]
    assert "Philippines" in sent["text"]
    labels = [b["text"] for b in _buttons(sent)]
    assert "Read more" in labels and "More results" in labels
    assert sent["parse_mode"] == "HTML"
    assert sent["link_preview_options"]["is_disabled"] is True


async def test_unknown_question_declines_with_the_1996_hotline(bot_app):
    await bot_app.process_update(bot_app.updates.text("best beef noodle near taipei main station"))
    text = _last_text(bot_app)
    assert "could not find" in text
    assert "+886-2-8195-8151" in text and "Xuzhou Rd" in text


async def test_every_command_replies(bot_app):
    for command in ["/help", "/news", "/news 2018", "/workshops", "/trafficking", "/contact", "/hotline",
                    "/hotline passport", "/search eID", "/search", "/language", "/subscriptions", "/nonsense"]:
        before = len(bot_app.request_log.sent())
        await bot_app.process_update(bot_app.updates.text(command))
        assert len(bot_app.request_log.sent()) == before + 1, command


async def test_news_for_one_year_lists_only_that_year(bot_app):
    await bot_app.process_update(bot_app.updates.text("/news 2018"))
    text = _last_text(bot_app)
    dates = re.findall(r"\d{4}-\d{2}-\d{2}", text)
    assert dates and all(d.startswith("2018") for d in dates)


async def test_news_next_page_button_edits_the_list(bot_app):
    await bot_app.process_update(bot_app.updates.text("/news"))
    first = bot_app.request_log.sent()[-1]
    nxt = [b for b in _buttons(first) if b["text"].startswith("Next")]
    assert nxt
    await bot_app.process_update(bot_app.updates.press(nxt[0]["callback_data"]))
    edited = bot_app.request_log.sent("editMessageText")[-1]
    assert "(2/" in edited["text"]


async def test_post_button_opens_post(bot_app):
    await bot_app.process_update(bot_app.updates.press(callbacks.encode("post", "p042")))
    assert "Gold Card" in _last_text(bot_app)


async def test_forged_button_data_gets_expired_notice(bot_app):
    await bot_app.process_update(bot_app.updates.press("p:../../etc/passwd"))
    answers = bot_app.request_log.sent("answerCallbackQuery")
    assert answers and "expired" in answers[-1]["text"]


async def test_share_button_gives_a_deep_link(bot_app):
    await bot_app.process_update(bot_app.updates.press(callbacks.encode("share", "p055")))
    assert f"t.me/{BOT_USERNAME}?start=p055" in _last_text(bot_app)


async def test_sticker_gets_please_type(bot_app):
    await bot_app.process_update(bot_app.updates.sticker())
    assert "type your question" in _last_text(bot_app)


async def test_group_message_without_mention_is_ignored(bot_app):
    before = len(bot_app.request_log.sent())
    await bot_app.process_update(bot_app.updates.text("eswatini immigration MOU", chat_id=-100, chat_type="group"))
    assert len(bot_app.request_log.sent()) == before


async def test_group_message_with_mention_is_answered(bot_app):
    await bot_app.process_update(
        bot_app.updates.text(f"@{BOT_USERNAME} eswatini immigration MOU", chat_id=-100, chat_type="group"))
    assert "Swaziland" in _last_text(bot_app)


async def test_text_is_html_escaped(bot_app):
    await bot_app.process_update(bot_app.updates.text("<b>hi</b> & <script>"))
    text = _last_text(bot_app)
    assert "<script>" not in text


async def test_chinese_user_gets_chinese_interface(bot_app):
    await bot_app.process_update(bot_app.updates.text("/start", lang="zh-hant"))
    assert "內政部" in _last_text(bot_app)


async def test_every_command_is_in_help_and_in_the_menu(bot_app):
    await _post_init(bot_app)
    menus = [p["commands"] for name, p in bot_app.request_log.calls if name == "setMyCommands"]
    assert menus, "set_my_commands was not called at start-up"
    staff_menus = [p for name, p in bot_app.request_log.calls if name == "setMyCommands" and "scope" in p]
    feed_commands = {"feeds", "feed_refresh", "feed_announce"}
    learning_commands = {"digest", "digest_time"}
    assert staff_menus and {"post", "announce", "broadcasts", "cancel_broadcast", "stats", *feed_commands,
                            *learning_commands} <= {
        c["command"] for c in staff_menus[0]["commands"]}
    registered = set()
    from telegram.ext import CommandHandler

    for _, handler in handler_table():
        if isinstance(handler, CommandHandler):
            registered |= set(handler.commands)
    citizen = registered - {"post", "announce", "broadcasts", "cancel_broadcast", "stats", "cancel", *feed_commands,
                            *learning_commands}
    menu_names = {c["command"] for c in menus[0]}
    assert citizen <= menu_names
    await bot_app.process_update(bot_app.updates.text("/help"))
    help_text = _last_text(bot_app)
    for name in citizen:
        assert f"/{name}" in help_text
    assert {c.command for c in menu_commands()} == set(CITIZEN_COMMANDS)


async def test_questions_are_logged_without_who_asked(bot_app, services):
    # A user id no timestamp, salt or hash in the file holds by chance (a short one like 555 does, a few
    # runs in a hundred: microseconds and hex digests).
    asker = 8_246_813_579
    await bot_app.process_update(bot_app.updates.text("eswatini immigration MOU", user_id=asker))
    await bot_app.process_update(bot_app.updates.text("best beef noodle near taipei main station", user_id=asker))
    services.flush_questions()
    today = services.ops.questions_today(services.now())
    assert today["answered"] == 1 and today["declined"] == 1
    path = services.settings.operational_path
    stored = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))  # the database and its WAL
    assert b"eswatini immigration MOU" in stored  # the question text is kept...
    assert str(asker).encode() not in stored  # ...but not who asked


async def test_a_person_in_danger_gets_the_referral_card_in_their_language(bot_app):
    await bot_app.process_update(bot_app.updates.text(
        "chủ giữ hộ chiếu của em và 3 tháng không trả lương, còn dọa đuổi về nước", user_id=321, lang="vi"))
    card = bot_app.request_log.sent()[-1]
    assert "1955" in card["text"] and "(02) 2388-3095" in card["text"]
    assert "tel:" not in card["text"]  # numbers written plainly: Telegram makes them tappable
    assert card["link_preview_options"]["is_disabled"] is True
    assert any(ch in card["text"] for ch in "ơưđ")  # Vietnamese, the writer's language
    [clear] = _buttons(card)
    assert clear["callback_data"] == "clear"


async def test_clear_this_chat_deletes_the_messages_of_the_conversation(bot_app):
    await bot_app.process_update(bot_app.updates.text("my boss took my passport and locks me in", user_id=322))
    question_id = bot_app.updates.message_id
    await bot_app.process_update(bot_app.updates.press("clear", user_id=322, message_id=1001))
    deleted = [p for name, p in bot_app.request_log.calls if name == "deleteMessages"]
    assert deleted and int(deleted[-1]["chat_id"]) == 322
    ids = {int(i) for i in deleted[-1]["message_ids"]}
    assert question_id in ids  # the person's own message too, in a private chat


async def test_language_can_be_switched_to_chinese(bot_app):
    await bot_app.process_update(bot_app.updates.press("l:zh", user_id=323))
    await bot_app.process_update(bot_app.updates.text("/help", user_id=323))
    assert "/news" in _last_text(bot_app) and any("\u4e00" <= ch <= "\u9fff" for ch in _last_text(bot_app))


def test_the_question_log_keeps_only_the_retention_period(services):
    from datetime import timedelta

    services.ops.log_question("old question", "post", "p001", 90.0, None, at=services.now() - timedelta(days=40))
    services.ops.log_question("new question", "none", None, None, None, at=services.now() - timedelta(days=1))
    assert services.settings.question_log_days == 30
    assert services.apply_retention() == 1
    kept = [q.text for q in services.ops.declined_questions(10)]
    assert kept == ["new question"]


async def test_the_language_choice_outlives_a_restart(bot_app, services):
    await bot_app.process_update(bot_app.updates.press("l:zh", user_id=324))
    assert services.ops.user_language(324) == "zh"
    bot_app.user_data[324].clear()  # what a restart forgets
    await bot_app.process_update(bot_app.updates.text("/start", user_id=324, lang="en"))
    assert "內政部" in _last_text(bot_app)


def _inline_press(app, data: str, user_id: int = 1201):
    """A button pressed on an inline message: the query carries inline_message_id, no message, no chat."""
    from telegram import CallbackQuery, Update, User

    app.updates.update_id += 1
    query = CallbackQuery(str(app.updates.update_id), User(user_id, "Test", False, language_code="en"),
                          chat_instance="ci", data=data, inline_message_id="AAAA-inline-1")
    query.set_bot(app.bot)
    update = Update(app.updates.update_id, callback_query=query)
    update.set_bot(app.bot)
    return update


async def test_buttons_on_inline_messages_are_answered_without_a_chat(bot_app, caplog):
    from tests.conftest import STAFF_ID

    presses = [(callbacks.encode("post", "p055"), 1201), (callbacks.encode("news", "-", "1"), 1201), ("l:zh", 1201),
               ("clear", 1201), ("sub:news", 1201), ("p:../forged", 1201), ("st:bcancel:1", 1201),
               ("st:bcancel:1", STAFF_ID), ("st:pcat:news", STAFF_ID)]
    for data, user in presses:
        await bot_app.process_update(_inline_press(bot_app, data, user))
    calls = [name for name, _ in bot_app.request_log.calls]
    assert "sendMessage" not in calls  # no chat to send to, and no apology for an error
    assert calls.count("answerCallbackQuery") == len(presses)
    edits = bot_app.request_log.sent("editMessageText")
    assert edits and all(e["inline_message_id"] == "AAAA-inline-1" for e in edits)
    assert "zero time difference" in edits[0]["text"]
    assert not [r for r in caplog.records if r.name == "bot.errors"]


async def test_in_a_group_clear_this_chat_deletes_only_what_answered_the_person_who_pressed(bot_app):
    group = -4200
    mention = f"@{BOT_USERNAME} "
    await bot_app.process_update(bot_app.updates.text(mention + "my boss took my passport and locks me in",
                                                      user_id=1301, chat_id=group, chat_type="group"))
    card_id = bot_app.request_log._message_id
    await bot_app.process_update(bot_app.updates.text(mention + "eswatini immigration MOU", user_id=1302,
                                                      chat_id=group, chat_type="group"))
    other_id = bot_app.request_log._message_id

    def press(user_id: int):
        update = bot_app.updates.press("clear", user_id=user_id, message_id=card_id)
        update.callback_query.message._unfreeze()
        update.callback_query.message.chat = Chat(group, "group")
        return update

    from telegram import Chat

    await bot_app.process_update(press(1302))  # on someone else's card: only the answer the presser got goes
    [deleted] = bot_app.request_log.sent("deleteMessages")
    assert [int(i) for i in deleted["message_ids"]] == [other_id]
    await bot_app.process_update(press(1302))  # and then nothing of theirs is left
    assert "nothing of yours" in bot_app.request_log.sent("answerCallbackQuery")[-1]["text"]
    await bot_app.process_update(press(1301))
    deleted = bot_app.request_log.sent("deleteMessages")[-1]
    assert [int(i) for i in deleted["message_ids"]] == [card_id]
    assert bot_app.request_log.sent("answerCallbackQuery")[-1]["text"] == "Chat cleared."


async def test_clear_this_chat_says_so_when_telegram_refuses_to_delete(bot_app):
    import json

    transport = bot_app.request_log
    record = transport.do_request

    async def refuse_deletes(url, method, request_data=None, **kwargs):
        if url.endswith("/deleteMessages"):
            body = {"ok": False, "error_code": 400, "description": "Bad Request: message can't be deleted"}
            return 400, json.dumps(body).encode()
        return await record(url, method, request_data, **kwargs)

    await bot_app.process_update(bot_app.updates.text("my boss took my passport and locks me in", user_id=1401))
    transport.do_request = refuse_deletes
    await bot_app.process_update(bot_app.updates.press("clear", user_id=1401, message_id=transport._message_id))
    answer = transport.sent("answerCallbackQuery")[-1]
    assert "could not delete" in answer["text"] and answer.get("show_alert") in (True, "true")
