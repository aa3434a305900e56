"""Property tests: hostile text through the answer engine + renderer and through the real message handler.

Whatever a person (or an attacker) types — arbitrary Unicode, 10,000 characters, RTL overrides and
zero-width characters, HTML and Markdown look-alikes, catastrophic-backtracking regexes, nothing at
all, emoji only — the bot answers without an exception, within a second, with at most 4,096
characters of valid Telegram HTML. The one-second bound is a safety bound, not a benchmark.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from html import escape

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from telegram import Chat, Message, MessageEntity, Update, User
from telegram.ext import Application

from bot.answer import TAIPEI
from bot.i18n import INTERFACE_LANGS, t
from bot.render import TELEGRAM_LIMIT, fit, render_answer
from tests.emulator import ApiError, parse_html

REPLY_BUDGET_S = 1.0
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# ---------------------------------------------------------------------------- a Telegram HTML validator

ALLOWED_TAGS = frozenset({"b", "i", "u", "s", "a", "code", "pre"})
_TAG_RE = re.compile(r'<(/?)([a-z]+)((?:\s+href="[^"<>]*")?)>')
_ENTITY_RE = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6});")


def html_problems(text: str) -> list[str]:
    """Why `text` is not Telegram HTML as we write it (empty list when it is).

    Allowed: the tags b, i, u, s, a (with an optional href), code and pre, balanced and properly
    nested; entities &lt; &gt; &amp; &quot; or numeric; never a raw '<' or '&' in text."""
    problems: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "<":
            m = _TAG_RE.match(text, i)
            if not m:
                problems.append(f"raw '<' or malformed tag at {i}: {text[i:i + 30]!r}")
                break
            closing, name, attrs = m.group(1) == "/", m.group(2), m.group(3)
            if name not in ALLOWED_TAGS:
                problems.append(f"tag <{name}> not allowed at {i}")
            elif closing:
                if attrs:
                    problems.append(f"attributes on a closing tag at {i}")
                if not stack or stack[-1] != name:
                    problems.append(f"</{name}> at {i} does not close {stack[-1:] or 'anything'}")
                    break
                stack.pop()
            else:
                if attrs and name != "a":
                    problems.append(f"attribute on <{name}> at {i}")
                stack.append(name)
            i = m.end()
        elif ch == "&":
            m = _ENTITY_RE.match(text, i)
            if not m:
                problems.append(f"raw '&' at {i}: {text[i:i + 12]!r}")
                break
            i = m.end()
        else:
            i += 1
    if stack:
        problems.append(f"unclosed tags {stack}")
    return problems


def assert_valid_reply_text(text: str) -> None:
    assert isinstance(text, str)
    assert len(text) <= TELEGRAM_LIMIT, f"reply of {len(text)} characters"
    problems = html_problems(text)
    assert not problems, f"{problems} in {text[:300]!r}"
    try:  # and what the emulator (tdlib's rules) makes of it: non-empty visible text
        visible, _ = parse_html(text)
    except ApiError as exc:  # pragma: no cover - a failure message, not a branch
        raise AssertionError(f"Telegram would reject it: {exc.description}: {text[:300]!r}") from None
    assert visible.strip(), f"Telegram rejects an empty message: {text!r}"


def test_the_validator_rejects_what_telegram_rejects():
    for good in ("<b>a</b> &amp; <i>b</i>", '<a href="https://x.y/?a=1&amp;b=2">x</a>', "a > b", "&#128512;"):
        assert html_problems(good) == [], good
    for bad in ("a < b", "AT&T", "<b>x", "<b><i>x</b></i>", "</b>", "<script>x</script>", "<br>", "<b class=x>y</b>",
                "&nbsp;"):
        assert html_problems(bad), bad


# ---------------------------------------------------------------------------- hostile text

RTL = "\u05d0\u05d1\u05d2\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627 \u062c\u0648\u0627\u0632 \u0633\u0641\u0631"
INVISIBLE = "\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u00ad\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c"
SPACES = " \t\n\r\u000b\u000c\u00a0\u1680\u2000\u2003\u2009\u200a\u2028\u2029\u202f\u205f\u3000\u0085"
DOMAIN = [  # words that reach every kind of answer: posts, contacts, lists, safety referrals, commands
    "passport", "immigration", "eswatini immigration MOU", "trafficking", "hotline", "1955", "0800-024-111",
    "latest news", "contact", "workshop", "Indonesia", "護照", "移民署", "人口販運", "最新消息",
    "he took my passport and I cannot leave", "my employer hits me", "tolong paspor saya diambil",
    "thank you", "hello", "2019", "/start", "/help", "/search passport", "/hotline labour", "/news 2024",
    "/language", "/subscribe", "/unknown_cmd", "@moi_helper_bot", "/start p001",
]
MARKUP = [
    "<b>", "</b>", "<i>", "</i>", "<a href=\"javascript:alert(1)\">", "</a>", "<script>alert(1)</script>", "<br>",
    "<pre><code>", "</code></pre>", "<tg-spoiler>", "&", "&amp;", "&lt;", "&gt;", "&#0;", "&#x110000;", "&nbsp;",
    "<", ">", "\"", "'", "*", "**", "_", "__", "`", "```", "~", "||", "[x](http://a.b)", "![i](x)", "\\", "#",
    ">quote", "- ", "1. ", "\n", "<b><i>", "</i></b>", "<!--", "-->", "<![CDATA[", "]]>",
]
REGEX = [
    "(a+)+$", "(a|aa)+$", "(.*a){20}", "^(([a-z])+.)+[A-Z]([a-z])+$", "a" * 40 + "!", "[", "]", "(", ")", "(?:",
    "(?P<x>", "\\", "\\1", "*+", "{1,99999}", ".*.*.*=.*", "$^", "|", "\\d+\\w*", "%s%s%n", "{0}", "%(x)s",
    "'; DROP TABLE questions; --", "${jndi:ldap://x}", "{{7*7}}",
]
EMOJI = st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF) | st.sampled_from(
    ["\u2764\ufe0f", "\U0001F468\u200d\U0001F469\u200d\U0001F467", "\U0001F1F9\U0001F1FC", "\U0001F44D\U0001F3FD",
     "\u263a", "\ufe0f", "\u20e3", "#\ufe0f\u20e3"])

fragments = st.one_of(
    st.sampled_from(DOMAIN), st.sampled_from(MARKUP), st.sampled_from(REGEX),
    st.text(alphabet=RTL + INVISIBLE, min_size=1, max_size=8), st.text(min_size=1, max_size=12),
)
mixed = st.lists(fragments, min_size=1, max_size=12).map(" ".join)
long_text = st.builds(lambda piece, n: (piece * (10_000 // len(piece) + 1))[:n],
                      st.one_of(mixed, st.text(min_size=1, max_size=40)), st.integers(4_000, 10_000))
hostile_text = st.one_of(
    st.text(),  # arbitrary Unicode (hypothesis leaves out lone surrogates, which Telegram cannot carry)
    st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
    mixed,
    long_text,
    st.text(alphabet=RTL + INVISIBLE + " ", max_size=200),
    st.lists(st.sampled_from(INVISIBLE), min_size=1, max_size=20).map("".join).flatmap(
        lambda zw: st.sampled_from(DOMAIN).map(lambda w: zw.join(w))),  # a word with zero-width joints
    st.text(alphabet=SPACES, max_size=50),  # empty and whitespace-only
    st.lists(EMOJI, min_size=1, max_size=40).map("".join),  # emoji-only
    st.lists(st.sampled_from(MARKUP + REGEX), min_size=1, max_size=30).map("".join),
)
HOSTILE_EXAMPLES = [
    "", " ", "\n\t ", "\u3000\u2028", "(a+)+$", "(a+)+$" * 1666, "a" * 10_000, "😀" * 10_000,
    "\u202e" + "passport" * 1250, "\u200b".join("immigration"), "<b>passport</b> &amp; <script>",
    "*passport* _immigration_ `1955` [x](http://evil)", "護照" * 5000, "he took my passport " * 500,
    "&" * 10_000, "<" * 10_000, "/start " + "<b>" * 3000, "/search " + "&lt;" * 2400,
]


def _examples(**other):
    """Always try the named hostile texts (with fixed values for the other arguments)."""
    def decorate(test):
        for text in HOSTILE_EXAMPLES:
            test = example(text=text, **other)(test)
        return test
    return decorate


# ---------------------------------------------------------------------------- (a) engine + renderer

_pieces = st.one_of(st.text(max_size=30).map(escape), st.sampled_from(["<b>", "</b>", "<i>", "</i>", " ", "\n"]))


def _balanced(parts: list[str]) -> str:
    """Escaped text with b/i tags, closed in order: what the renderer builds before fit()."""
    out, stack = [], []
    for part in parts:
        if part in ("<b>", "<i>"):
            if part[1:-1] in stack:
                continue
            stack.append(part[1:-1])
        elif part in ("</b>", "</i>"):
            if not stack or stack[-1] != part[2:-1]:
                continue
            stack.pop()
        out.append(part)
    return "".join(out) + "".join(f"</{tag}>" for tag in reversed(stack))


@settings(max_examples=300, deadline=None)
@example(parts=["<b>"] + ["x &amp; y "] * 1000 + ["</b>"], limit=TELEGRAM_LIMIT)
@given(parts=st.lists(_pieces, max_size=400), limit=st.integers(40, TELEGRAM_LIMIT))
def test_fit_cuts_to_the_limit_without_splitting_a_tag_or_an_entity(parts, limit):
    text = _balanced(parts)
    assume(text.strip())
    cut = fit(text, limit)
    assert html_problems(cut) == [], cut
    assert len(cut) <= limit
    visible, _ = parse_html(cut)  # Telegram counts the limit after parsing entities
    assert len(visible) <= limit


def test_fit_keeps_the_html_itself_within_the_limit():
    text = "<b>" + "x &amp; y " * 1000 + "</b>"
    assert len(fit(text)) <= TELEGRAM_LIMIT  # the closing tags and the ellipsis count too


@PROPERTY_SETTINGS
@_examples()
@given(text=hostile_text)
def test_engine_and_renderer_answer_any_text_quickly_with_valid_html(services, text):
    engine, now = services.engine, datetime.now(TAIPEI)
    for lang in INTERFACE_LANGS:
        start = time.perf_counter()
        answer = engine.answer(text, now=now)
        reply = render_answer(answer, engine.posts, engine.contacts, lang=lang, now=now,
                              bot_username="moi_helper_bot")
        elapsed = time.perf_counter() - start
        assert elapsed < REPLY_BUDGET_S, f"{elapsed:.2f}s for {text[:80]!r}"
        assert answer.kind in {"none", "post", "list", "contact", "referral"}
        assert_valid_reply_text(reply.text)
        for row in reply.buttons:
            for button in row:
                assert button.label and (button.url or button.data or button.inline_query)
                assert len(button.data.encode()) <= 64


# ---------------------------------------------------------------------------- (b) the message handler

_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")


def _text_update(app: Application, text: str, *, user_id: int, lang: str | None) -> Update:
    """A private text message as Telegram delivers it: a bot_command entity only for a real /command."""
    factory = app.updates
    factory.update_id += 1
    factory.message_id += 1
    entities = []
    command = _COMMAND_RE.match(text)
    if command:
        entities.append(MessageEntity(MessageEntity.BOT_COMMAND, 0, len(command.group())))  # ASCII: UTF-16 length
    msg = Message(factory.message_id, datetime.now(UTC), Chat(user_id, "private"),
                  from_user=User(user_id, "Test", is_bot=False, language_code=lang), text=text, entities=entities)
    msg.set_bot(app.bot)
    update = Update(factory.update_id, message=msg)
    update.set_bot(app.bot)
    return update


def _error_log(app: Application) -> list[BaseException]:
    """Errors that reached the application's error handlers (registered once per app)."""
    if "_test_errors" not in app.bot_data:
        errors: list[BaseException] = []
        app.bot_data["_test_errors"] = errors

        async def record(update, context):
            errors.append(context.error)

        app.add_error_handler(record)
    return app.bot_data["_test_errors"]


@PROPERTY_SETTINGS
@_examples(lang="en", user_id=1)
@given(text=hostile_text, lang=st.sampled_from(["en", "zh-hant", "th", "ar", None]),
       user_id=st.integers(1, 50))
async def test_the_message_handler_replies_to_any_text_once_quickly_with_valid_html(bot_app, text, lang,
                                                                                   user_id):
    errors = _error_log(bot_app)
    errors.clear()
    calls = bot_app.request_log.calls
    before = len(calls)
    update = _text_update(bot_app, text, user_id=user_id, lang=lang)
    start = time.perf_counter()
    await bot_app.process_update(update)
    elapsed = time.perf_counter() - start
    assert not errors, f"handler raised {errors[0]!r} for {text[:80]!r}"
    assert elapsed < REPLY_BUDGET_S, f"{elapsed:.2f}s for {text[:80]!r}"
    sent = [params for name, params in calls[before:] if name == "sendMessage"]
    assert len(sent) == 1, f"{len(sent)} replies to {text[:80]!r}: {calls[before:]}"
    reply = sent[0]
    assert int(reply["chat_id"]) == user_id
    if reply.get("parse_mode") == "HTML":
        assert_valid_reply_text(reply["text"])
    else:
        assert 0 < len(reply["text"]) <= TELEGRAM_LIMIT and reply["text"].strip()
    keyboard = reply.get("reply_markup") or {}
    for row in keyboard.get("inline_keyboard", []):
        for button in row:
            assert len(button.get("callback_data", "").encode()) <= 64


# ---------------------------------------------------------------------------- forged button data

@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(data="p:../../etc/passwd")
@example(data="m:" + ",".join(["p001"] * 40))
@example(data="n:9999:9999")
@example(data="st:broadcast_ok:1")
@example(data="x" * 200)
@given(data=st.one_of(st.text(max_size=80), st.from_regex(r"\A(p|m|n|c|s|l|sub|st):[ -~]{0,70}\Z")))
async def test_any_button_data_gets_an_answer_and_valid_html(bot_app, data):
    errors = _error_log(bot_app)
    errors.clear()
    calls = bot_app.request_log.calls
    before = len(calls)
    start = time.perf_counter()
    await bot_app.process_update(bot_app.updates.press(data, user_id=77))
    assert time.perf_counter() - start < REPLY_BUDGET_S
    assert not errors, f"handler raised {errors[0]!r} for {data!r}"
    made = calls[before:]
    assert any(name == "answerCallbackQuery" for name, _ in made), made
    for name, params in made:
        if name in ("sendMessage", "editMessageText") and params.get("parse_mode") == "HTML":
            assert_valid_reply_text(params["text"])


async def test_a_forged_or_stale_topic_button_gets_this_button_has_expired(bot_app):
    errors = _error_log(bot_app)
    errors.clear()
    calls = bot_app.request_log.calls
    before = len(calls)
    await bot_app.process_update(bot_app.updates.press("sub:old-topic", user_id=78))
    assert not errors, errors
    answers = [params for name, params in calls[before:] if name == "answerCallbackQuery"]
    assert answers and answers[0].get("text") == t("en", "expired")
