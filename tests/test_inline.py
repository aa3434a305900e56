"""Inline mode through PTB's InlineQueryHandler, registered in the one handler table, with the
answerInlineQuery call recorded as Telegram would receive it."""

from __future__ import annotations

import json

from bot import inline
from bot.alternates import tunables
from tests.conftest import BOT_USERNAME


async def _inline(app, query: str, **kw) -> dict:
    before = len(app.request_log.sent("answerInlineQuery"))
    await app.process_update(app.updates.inline(query, **kw))
    calls = app.request_log.sent("answerInlineQuery")
    assert len(calls) == before + 1, "the inline query was not answered"
    return calls[-1]


def _param(call: dict, name: str):
    """A parameter as Telegram reads it (the transport sends scalars as JSON text)."""
    value = call.get(name)
    return json.loads(value) if isinstance(value, str) else value


def _ids(call: dict) -> list[str]:
    return [r["id"] for r in call["results"]]


async def test_an_empty_query_offers_the_latest_news(bot_app, services):
    call = await _inline(bot_app, "")
    assert _ids(call) == services.engine.post_index.newest(10)
    assert _param(call, "cache_time") == tunables()["inline_cache_s"] and _param(call, "is_personal") is True
    first = call["results"][0]
    post = services.engine.posts[first["id"]]
    assert first["type"] == "article" and first["title"].startswith(post.title[:40])
    content = first["input_message_content"]
    assert content["parse_mode"] == "HTML" and post.date in content["message_text"]
    assert post.url in content["message_text"]  # the link travels with the shared post
    buttons = [b for row in first["reply_markup"]["inline_keyboard"] for b in row]
    assert {"url": post.url, "text": "Read more"} in [{k: b[k] for k in ("url", "text")} for b in buttons if "url" in b]
    assert any(b.get("url") == f"https://t.me/{BOT_USERNAME}?start={post.id}" for b in buttons)


async def test_a_query_offers_up_to_ten_posts_or_contacts(bot_app):
    call = await _inline(bot_app, "2018 workshop")
    ids = _ids(call)
    assert ids[0] in ("p055", "p053", "p054") and 1 <= len(ids) <= 10 and len(set(ids)) == len(ids)
    hotline = _ids(await _inline(bot_app, "hotline"))
    assert "c01" in hotline and len(hotline) <= 10  # the 1996 line among them
    contact = next(r for r in (await _inline(bot_app, "hotline"))["results"] if r["id"] == "c01")
    assert "1996" in contact["title"] and "1996" in contact["input_message_content"]["message_text"]
    assert _ids(await _inline(bot_app, "zzzqqqxxv")) == []


async def test_a_query_in_chinese_is_answered_in_chinese_for_everyone(bot_app, services):
    call = await _inline(bot_app, "2018 人口販運 研討會", lang="en")
    first = call["results"][0]
    post = services.engine.posts[first["id"]]
    assert first["id"] in ("p055", "p053", "p054")
    assert first["title"] == post.text("zh", "title") and post.text("zh", "title") in \
        first["input_message_content"]["message_text"]
    assert _param(call, "is_personal") is False  # the words decided the language, not the person


async def test_the_persons_language_decides_when_the_words_do_not(bot_app, services):
    call = await _inline(bot_app, "", lang="zh-hant")
    first = call["results"][0]
    assert first["title"] == services.engine.posts[first["id"]].text("zh", "title")
    assert _param(call, "is_personal") is True


async def test_the_share_button_opens_inline_mode_with_the_post(bot_app, services):
    await bot_app.process_update(bot_app.updates.text("eswatini immigration MOU"))
    answer = bot_app.request_log.sent()[-1]
    share = [b for row in answer["reply_markup"]["inline_keyboard"] for b in row if b["text"] == "Share"]
    [button] = share
    assert "callback_data" not in button and button["switch_inline_query"]
    post_id = button["switch_inline_query"]
    call = await _inline(bot_app, post_id)  # what the person sees in the chat they picked
    assert _ids(call)[0] == post_id


def test_inline_results_are_built_without_telegram(services):
    found = inline.answer_query(services.engine, "", "en", services.now(), bot_username="")
    assert len(found.items) == 10 and all(i.buttons for i in found.items if services.engine.posts[i.id].url)
    assert all("t.me" not in b.url for i in found.items for row in i.buttons for b in row)  # no username: no deep link
