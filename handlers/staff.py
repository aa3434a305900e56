"""Staff handlers: /post, /announce, /broadcasts, /cancel_broadcast, /stats and the staff buttons.

Every step and every button checks the sender is staff (BOT_STAFF_IDS): anyone else gets "this
command is for ministry staff", the attempt is logged, and nothing else happens. The logic lives
in bot/announce.py and bot/staff.py; broadcasts run in background tasks with bot/broadcast.py's
Broadcaster, editing one progress message and ending with a delivery report.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import warnings
from collections.abc import Awaitable, Callable
from datetime import datetime

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    Application,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from bot import announce, callbacks
from bot.announce import Announcement, StaffInputError
from bot.broadcast import Broadcaster, ProgressInfo, Report
from bot.i18n import t, tmap
from bot.models import CATEGORIES, RecordError
from bot.render import Button, Reply
from bot.staff import publish_post
from bot.telegram_delivery import keyboard_from_json, telegram_sender
from bot.text import truncate_words
from handlers.common import NO_PREVIEW, send, services, user_lang

log = logging.getLogger(__name__)

END = ConversationHandler.END
P_TITLE, P_BODY, P_CATEGORY, P_LINK, P_CONFIRM = range(5)
A_PICK, A_TOPIC, A_WHEN, A_CONFIRM = range(5, 9)
CONVERSATION_TIMEOUT_S = 30 * 60  # an abandoned draft is dropped after half an hour
DUE_CHECK_S = 30  # how often the bot looks for broadcasts scheduled by `python -m bot announce`
TEXT = filters.TEXT & ~filters.COMMAND
_TASKS, _BROADCASTER, _STARTED, _DUE_CHECK = "staff_broadcast_tasks", "staff_broadcaster", "staff_started", \
    "broadcast-due-check"

Callback = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[object]]


# -- the staff check ---------------------------------------------------------------------------


def staff_only(what: str) -> Callable[[Callback], Callback]:
    """Run the handler for staff only; anyone else is refused, logged, and any conversation ends."""

    def wrap(handler: Callback) -> Callback:
        @functools.wraps(handler)
        async def guarded(update: Update, context: ContextTypes.DEFAULT_TYPE) -> object:
            user = update.effective_user
            if services(context).is_staff(user.id if user else None):
                return await handler(update, context)
            await refuse(update, context, what)
            return END

        return guarded

    return wrap


async def refuse(update: Update, context: ContextTypes.DEFAULT_TYPE, what: str) -> None:
    """Tell a non-staff user this is for staff, and log the attempt for the staff audit."""
    user, chat = update.effective_user, update.effective_chat
    log.info("staff-only %s refused: user %s in chat %s", what, user.id if user else None, chat.id if chat else None)
    lang = user_lang(update, context)
    if update.callback_query is not None:
        await update.callback_query.answer(t(lang, "staff_only"), show_alert=True)
    elif chat is not None:
        await send(update, context, Reply(t(lang, "staff_only")), lang)


# -- small helpers -----------------------------------------------------------------------------


def _cb(action: str, arg: str = "") -> str:
    return callbacks.encode("staff", action, arg)


def _arg(update: Update) -> str:
    action = callbacks.decode(update.callback_query.data if update.callback_query else None)
    return action.args[1] if action and action.kind == "staff" else ""


async def _say(update: Update, context: ContextTypes.DEFAULT_TYPE, text: str,
               buttons: tuple[tuple[Button, ...], ...] = ()) -> Message:
    return await send(update, context, Reply(text, buttons), user_lang(update, context))


async def _done_with_buttons(update: Update) -> None:
    """Answer a pressed button and take the keyboard off its message so it cannot be pressed twice."""
    query = update.callback_query
    await query.answer()
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except BadRequest as exc:  # too old, or already without buttons
        log.debug("could not remove buttons: %s", exc.message)


def _confirm_buttons(lang: str, ok: str, no: str, nonce: str) -> tuple[tuple[Button, ...], ...]:
    return ((Button(t(lang, "staff_confirm"), data=_cb(ok, nonce)), Button(t(lang, "staff_cancel"), data=_cb(no, nonce))),)


def _new_nonce(draft: dict) -> str:
    """Ties Confirm/Cancel to this preview: a button from an older preview does nothing."""
    draft["nonce"] = secrets.token_hex(4)
    return draft["nonce"]


async def _stale(update: Update, context: ContextTypes.DEFAULT_TYPE, key: str) -> bool:
    draft = context.user_data.get(key) or {}
    if draft.get("nonce") and draft["nonce"] == _arg(update):
        return False
    await update.callback_query.answer(t(user_lang(update, context), "expired"))
    return True


@staff_only("/cancel")
async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """/cancel: drop the draft; nothing is published or sent."""
    context.user_data.pop("post", None)
    context.user_data.pop("ann", None)
    await _say(update, context, t(user_lang(update, context), "staff_cancelled"))
    return END


# -- /post -------------------------------------------------------------------------------------


@staff_only("/post")
async def post_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """/post: a new post in five steps (title, text, category, link, preview)."""
    context.user_data["post"] = {}
    await _say(update, context, t(user_lang(update, context), "staff_post_ask_title", max=str(announce.MAX_TITLE)))
    return P_TITLE


@staff_only("/post title")
async def post_title(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """The post's title (at most 300 characters)."""
    lang = user_lang(update, context)
    try:
        context.user_data.setdefault("post", {})["title"] = announce.clean_title(update.message.text)
    except StaffInputError as exc:
        await _say(update, context, exc.message(lang))
        return P_TITLE
    await _say(update, context, t(lang, "staff_post_ask_body"))
    return P_BODY


@staff_only("/post text")
async def post_body(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """The post's text."""
    lang = user_lang(update, context)
    try:
        context.user_data.setdefault("post", {})["body"] = announce.clean_body(update.message.text)
    except StaffInputError as exc:
        await _say(update, context, exc.message(lang))
        return P_BODY
    return await _ask_category(update, context)


async def _ask_category(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    lang = user_lang(update, context)
    names = tmap(lang, "categories")
    rows = tuple((Button(names.get(c, c), data=_cb("pcat", c)),) for c in CATEGORIES)
    await _say(update, context, t(lang, "staff_post_ask_category"), rows)
    return P_CATEGORY


@staff_only("/post category")
async def post_category(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """A category button (or the category typed)."""
    lang = user_lang(update, context)
    typed = update.message.text if update.message else _arg(update)
    try:
        category = announce.clean_category(typed)
    except StaffInputError as exc:
        if update.callback_query:
            await update.callback_query.answer(t(lang, "expired"))
            return P_CATEGORY
        await _say(update, context, exc.message(lang))
        return await _ask_category(update, context)
    if update.callback_query:
        await _done_with_buttons(update)
    context.user_data.setdefault("post", {})["category"] = category
    await _say(update, context, t(lang, "staff_post_ask_link"))
    return P_LINK


@staff_only("/post link")
async def post_link(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """The optional link (http or https), or /skip."""
    lang = user_lang(update, context)
    draft = context.user_data.setdefault("post", {})
    if update.message.text.startswith("/skip"):
        draft["url"] = ""
    else:
        try:
            draft["url"] = announce.clean_link(update.message.text)
        except StaffInputError as exc:
            await _say(update, context, exc.message(lang))
            return P_LINK
    return await _post_preview(update, context)


async def _post_preview(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    lang = user_lang(update, context)
    draft = context.user_data.get("post") or {}
    try:
        reply = announce.preview_post(services(context).store, draft, lang, bot_username=context.bot.username or "")
    except (StaffInputError, KeyError) as exc:
        text = exc.message(lang) if isinstance(exc, StaffInputError) else t(lang, "expired")
        await _say(update, context, text)
        context.user_data.pop("post", None)
        return END
    await _say(update, context, t(lang, "staff_post_preview_intro"))
    await send(update, context, reply, lang)  # exactly what citizens will see
    nonce = _new_nonce(draft)
    await _say(update, context, t(lang, "staff_post_confirm"), _confirm_buttons(lang, "post_ok", "post_no", nonce))
    return P_CONFIRM


@staff_only("/post confirm")
async def post_confirm(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Confirm: store the post; it is searchable at once."""
    if await _stale(update, context, "post"):
        return P_CONFIRM
    lang = user_lang(update, context)
    draft = context.user_data.pop("post")
    await _done_with_buttons(update)
    try:
        post = publish_post(services(context).store, title=draft["title"], body=draft["body"],
                            category=draft["category"], url=draft.get("url", ""))
    except RecordError as exc:
        await _say(update, context, StaffInputError("staff_post_invalid", reason=str(exc)).message(lang))
        return END
    log.info("staff %s published post %s", update.effective_user.id, post.id)
    announce_row: tuple[tuple[Button, ...], ...] = ()
    try:
        announce_row = ((Button(t(lang, "staff_announce_this"), data=_cb("announce", post.id)),),)
    except ValueError:  # an id too long for a button: /announce <id> still works
        pass
    await _say(update, context, t(lang, "staff_post_published", id=post.id), announce_row)
    return END


@staff_only("/post cancel")
async def post_decline(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Cancel under the preview: nothing is stored."""
    if await _stale(update, context, "post"):
        return P_CONFIRM
    context.user_data.pop("post", None)
    await _done_with_buttons(update)
    await _say(update, context, t(user_lang(update, context), "staff_cancelled"))
    return END


@staff_only("/post confirm")
async def post_waiting(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Text while the preview waits for Confirm or Cancel."""
    await _say(update, context, t(user_lang(update, context), "staff_use_buttons"))
    return P_CONFIRM


# -- /announce ---------------------------------------------------------------------------------


@staff_only("/announce")
async def announce_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """/announce: pick a post or write a short text, pick the topic, the time, preview, confirm."""
    context.user_data["ann"] = {}
    typed = (update.message.text or "").partition(" ")[2].strip()
    if typed:  # /announce p055, or /announce <a short text>
        return await _announce_pick(update, context, typed)
    lang = user_lang(update, context)
    rows = []
    for post in announce.latest_posts(services(context).store):
        try:
            rows.append((Button(f"{post.id} · {truncate_words(post.title, 48)}", data=_cb("apost", post.id)),))
        except ValueError:  # an id too long for a button: it can still be typed
            continue
    await _say(update, context, t(lang, "staff_ann_ask"), tuple(rows))
    return A_PICK


@staff_only("/announce")
async def announce_post_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """A post button: one of the latest posts, or "Announce it" under a post just published."""
    post = services(context).store.post(_arg(update))
    if post is None:
        await update.callback_query.answer(t(user_lang(update, context), "not_found_post"))
        return A_PICK if context.user_data.get("ann") is not None else END
    context.user_data["ann"] = {}
    await _done_with_buttons(update)
    return await _ask_topic(update, context, announce.from_post(post, bot_username=context.bot.username or ""))


@staff_only("/announce post")
async def announce_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """A post id typed, or the short announcement text."""
    return await _announce_pick(update, context, update.message.text)


async def _announce_pick(update: Update, context: ContextTypes.DEFAULT_TYPE, typed: str) -> int:
    try:
        ann = announce.pick(services(context).store, typed, bot_username=context.bot.username or "")
    except StaffInputError as exc:
        await _say(update, context, exc.message(user_lang(update, context)))
        return A_PICK
    return await _ask_topic(update, context, ann)


async def _ask_topic(update: Update, context: ContextTypes.DEFAULT_TYPE, ann: Announcement) -> int:
    lang = user_lang(update, context)
    context.user_data["ann"] = {"ann": ann.to_dict()}
    ops, store = services(context).ops, services(context).store
    suggested = announce.suggested_topic(store.post(ann.post_id) if ann.post_id else None)
    rows = tuple(
        (Button(("★ " if topic == suggested else "") + f"{announce.topic_label(topic, lang)} ({n})",
                data=_cb("atopic", topic)),)
        for topic, n in announce.topic_counts(ops).items())
    await _say(update, context, t(lang, "staff_ann_ask_topic"), rows)
    return A_TOPIC


@staff_only("/announce topic")
async def announce_topic(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """A topic button (or the topic typed)."""
    lang = user_lang(update, context)
    draft = context.user_data.get("ann") or {}
    typed = update.message.text if update.message else _arg(update)
    try:
        topic = announce.clean_topic(typed)
    except StaffInputError as exc:
        if update.callback_query:
            await update.callback_query.answer(t(lang, "expired"))
        else:
            await _say(update, context, exc.message(lang))
        return A_TOPIC
    if "ann" not in draft:
        return await _lost_draft(update, context)
    if update.callback_query:
        await _done_with_buttons(update)
    draft["topic"] = topic
    await _say(update, context, t(lang, "staff_ann_ask_when"),
               ((Button(t(lang, "staff_send_now"), data=_cb("awhen", "now")),),))
    return A_WHEN


@staff_only("/announce time")
async def announce_when(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """The time: "Send now", or one typed like "tomorrow 09:00" (Asia/Taipei)."""
    lang = user_lang(update, context)
    draft = context.user_data.get("ann") or {}
    if "topic" not in draft:
        return await _lost_draft(update, context)
    when: datetime | None = None
    if update.callback_query:
        await _done_with_buttons(update)
    else:
        try:
            when = announce.parse_when(update.message.text, services(context).now())
        except StaffInputError as exc:
            await _say(update, context, exc.message(lang))
            return A_WHEN
    draft["when"] = when.isoformat() if when else None
    return await _announce_preview(update, context)


async def _announce_preview(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    lang = user_lang(update, context)
    draft = context.user_data["ann"]
    ann = Announcement.from_dict(draft["ann"])
    when = datetime.fromisoformat(draft["when"]) if draft.get("when") else None
    await _say(update, context, t(lang, "staff_ann_preview_intro"))
    # Exactly what recipients get: the same text, keyboard and options as the broadcast's sender.
    message = await context.bot.send_message(update.effective_chat.id, ann.text_html, parse_mode="HTML",
                                             reply_markup=keyboard_from_json(ann.buttons_json),
                                             link_preview_options=NO_PREVIEW)
    services(context).remember_message(message.chat_id, message.message_id)
    count = announce.recipients(services(context).ops, draft["topic"])
    nonce = _new_nonce(draft)
    await _say(update, context, announce.confirm_text(draft["topic"], count, when, lang),
               _confirm_buttons(lang, "ann_ok", "ann_no", nonce))
    return A_CONFIRM


@staff_only("/announce confirm")
async def announce_confirm(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Confirm: store the broadcast, then send it now (with progress) or arm its timer."""
    if await _stale(update, context, "ann"):
        return A_CONFIRM
    lang = user_lang(update, context)
    svc, app = services(context), context.application
    draft = context.user_data["ann"]
    when = datetime.fromisoformat(draft["when"]) if draft.get("when") else None
    if when is not None and when <= svc.now():  # the preview waited past the chosen time
        await update.callback_query.answer()
        await _say(update, context, announce.ScheduleError(
            "staff_when_past", when=announce.format_when(when), now=announce.format_when(svc.now())).message(lang))
        return A_WHEN
    context.user_data.pop("ann", None)
    await _done_with_buttons(update)
    user_id = update.effective_user.id
    broadcast_id = announce.create(svc.ops, user_id, draft["topic"], Announcement.from_dict(draft["ann"]), when)
    log.info("staff %s created broadcast %s to %s, %s", user_id, broadcast_id, draft["topic"],
             announce.format_when(when) if when else "now")
    if when is not None:
        arm(app, broadcast_id, when)
        await _say(update, context, t(lang, "staff_ann_scheduled", id=str(broadcast_id), when=announce.format_when(when)))
        return END
    message = await _say(update, context, t(lang, "staff_ann_starting", id=str(broadcast_id)),
                         ((Button(t(lang, "staff_cancel_broadcast"), data=_cb("bcancel", str(broadcast_id))),),))
    svc.ops.set_progress_message(broadcast_id, message.chat_id, message.message_id)
    launch(app, broadcast_id, lang)
    return END


@staff_only("/announce cancel")
async def announce_decline(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Cancel under the preview: nothing is sent or scheduled."""
    if await _stale(update, context, "ann"):
        return A_CONFIRM
    context.user_data.pop("ann", None)
    await _done_with_buttons(update)
    await _say(update, context, t(user_lang(update, context), "staff_cancelled"))
    return END


@staff_only("/announce confirm")
async def announce_waiting(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Text while the preview waits for Confirm or Cancel."""
    await _say(update, context, t(user_lang(update, context), "staff_use_buttons"))
    return A_CONFIRM


async def _lost_draft(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """The draft is gone (a restart dropped user_data): start again."""
    if update.callback_query:
        await update.callback_query.answer()
    await _say(update, context, t(user_lang(update, context), "staff_draft_lost"))
    return END


# -- /broadcasts, /cancel_broadcast, /stats, staff buttons ---------------------------------------


@staff_only("/broadcasts")
async def broadcasts(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/broadcasts: running, scheduled and recent broadcasts."""
    await _say(update, context, announce.list_broadcasts(services(context).ops, user_lang(update, context)))


@staff_only("/cancel_broadcast")
async def cancel_broadcast(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/cancel_broadcast ID: stop a running or scheduled broadcast."""
    lang = user_lang(update, context)
    broadcast_id = announce.parse_broadcast_id(" ".join(context.args or []))
    if broadcast_id is None:
        listing = announce.list_broadcasts(services(context).ops, lang)
        await _say(update, context, t(lang, "staff_cancel_usage") + "\n\n" + listing)
        return
    await _say(update, context, stop_broadcast(context.application, broadcast_id, lang, update.effective_user.id))


@staff_only("/stats")
async def stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/stats: subscribers by topic, questions answered and declined today."""
    await _say(update, context, announce.stats(services(context), user_lang(update, context)))


@staff_only("staff button")
async def staff_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A staff button outside a conversation: cancel or resume a broadcast; anything else has expired."""
    query, lang = update.callback_query, user_lang(update, context)
    action = callbacks.decode(query.data)
    verb = action.args[0] if action and action.kind == "staff" else ""
    broadcast_id = announce.parse_broadcast_id(action.args[1]) if action else None
    if verb == "bcancel" and broadcast_id is not None:
        await query.answer(stop_broadcast(context.application, broadcast_id, lang, update.effective_user.id)[:200])
        return
    if verb == "bresume" and broadcast_id is not None:
        await query.answer(resume_broadcast(context.application, broadcast_id, lang)[:200])
        return
    await query.answer(t(lang, "expired"))


# -- running broadcasts ------------------------------------------------------------------------


class _Stopping(BaseException):
    """The bot is stopping: end the broadcast task before the next send, leaving it resumable.
    A BaseException, so the Broadcaster does not record it as a recipient's error."""


def _send_unless_stopping(app: Application, send_fn):
    async def send_fn_guarded(chat_id: int, text_html: str, buttons_json: str) -> None:
        if app.bot_data.get(_STARTED) and not app.running:
            raise _Stopping  # nothing is in flight: this recipient stays pending for the next start
        await send_fn(chat_id, text_html, buttons_json)

    return send_fn_guarded


def broadcaster(app: Application) -> Broadcaster:
    """The one Broadcaster of this process: one token bucket paces every broadcast."""
    found = app.bot_data.get(_BROADCASTER)
    if found is None:
        svc = app.bot_data["services"]
        found = Broadcaster(svc.ops, _send_unless_stopping(app, telegram_sender(app.bot)),
                            rate_per_s=svc.settings.broadcast_rate)
        app.bot_data[_BROADCASTER] = found
    return found


def running_tasks(app: Application) -> list[asyncio.Task]:
    """Broadcast tasks of this process (tests await them)."""
    return list(app.bot_data.get(_TASKS, {}).values())


def launch(app: Application, broadcast_id: int, lang: str | None = None) -> asyncio.Task:
    """Run a broadcast in the background (once per process), with progress edits and a report."""
    tasks: dict[int, asyncio.Task] = app.bot_data.setdefault(_TASKS, {})
    existing = tasks.get(broadcast_id)
    if existing is not None and not existing.done():
        return existing
    work, name = _run_broadcast(app, broadcast_id, lang), f"broadcast-{broadcast_id}"
    # Application.create_task lets app.stop() wait for the task (which then pauses at once, see
    # _send_unless_stopping); before app.start() (tests) a plain task avoids PTB's warning.
    task = app.create_task(work, name=name) if app.running else asyncio.get_running_loop().create_task(work, name=name)
    tasks[broadcast_id] = task
    task.add_done_callback(lambda done: tasks.pop(broadcast_id) if tasks.get(broadcast_id) is done else None)
    return task


def _staff_lang(app: Application, staff_id: int) -> str:
    return (app.user_data.get(staff_id) or {}).get("lang") or "en"


async def _run_broadcast(app: Application, broadcast_id: int, lang: str | None) -> Report | None:
    svc = app.bot_data["services"]
    ops = svc.ops
    chat_id: int | None = None
    try:
        info = ops.broadcast(broadcast_id)
        if info.finished:
            return None
        lang = lang or _staff_lang(app, info.staff_id)
        announce.prepare(ops, broadcast_id)
        chat_id, message_id = info.progress_chat_id, info.progress_message_id
        if (chat_id is None or message_id is None) and info.staff_id > 0:  # 0: created in the terminal
            chat_id, message_id = await _open_progress(app, broadcast_id, info.staff_id, lang)
        report = await broadcaster(app).run(broadcast_id, _progress_editor(app, chat_id, message_id, info.topic, lang))
        if report.ran:
            log.info("broadcast %s ended %s: %s sent, %s failed, %s pending", broadcast_id, report.state,
                     report.sent, report.failed, report.pending)
            if chat_id or info.staff_id > 0:
                await _send_report(app, chat_id or info.staff_id, report, lang)
        return report
    except _Stopping:
        log.info("broadcast %s paused: the bot is stopping; the next start resumes it", broadcast_id)
    except Exception:
        log.exception("broadcast %s stopped by an error; the next start resumes it", broadcast_id)
        try:
            info = ops.broadcast(broadcast_id)
            if chat_id or info.staff_id > 0:
                await app.bot.send_message(chat_id or info.staff_id,
                                           t(lang or "en", "staff_broadcast_error", id=str(broadcast_id)))
        except Exception as exc:  # the network may be why we are here
            log.warning("could not tell staff about broadcast %s: %s", broadcast_id, type(exc).__name__)
    return None


def _cancel_markup(broadcast_id: int, lang: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t(lang, "staff_cancel_broadcast"),
                                                       callback_data=_cb("bcancel", str(broadcast_id)))]])


async def _open_progress(app: Application, broadcast_id: int, staff_id: int, lang: str) -> tuple[int | None, int | None]:
    """A progress message for a broadcast that has none (scheduled, or from the terminal)."""
    try:
        message = await app.bot.send_message(staff_id, t(lang, "staff_ann_starting", id=str(broadcast_id)),
                                             parse_mode="HTML", reply_markup=_cancel_markup(broadcast_id, lang))
    except TelegramError as exc:
        log.info("broadcast %s: no progress message for staff %s (%s)", broadcast_id, staff_id, exc)
        return None, None
    app.bot_data["services"].ops.set_progress_message(broadcast_id, message.chat_id, message.message_id)
    return message.chat_id, message.message_id


def _progress_editor(app: Application, chat_id: int | None, message_id: int | None, topic: str,
                     lang: str) -> Callable[[ProgressInfo], Awaitable[None]] | None:
    """Edits the one progress message (the Broadcaster calls it at most every ~2 s, and at the end)."""
    if chat_id is None or message_id is None:
        return None

    async def edit(progress: ProgressInfo) -> None:
        markup = None if progress.final else _cancel_markup(progress.broadcast_id, lang)
        try:
            await app.bot.edit_message_text(announce.progress_text(progress, topic, lang), chat_id=chat_id,
                                            message_id=message_id, parse_mode="HTML", reply_markup=markup)
        except BadRequest as exc:
            if "not modified" not in exc.message.lower():
                log.info("broadcast %s: progress edit failed: %s", progress.broadcast_id, exc.message)
        except TelegramError as exc:
            log.info("broadcast %s: progress edit failed: %s", progress.broadcast_id, type(exc).__name__)

    return edit


async def _send_report(app: Application, chat_id: int, report: Report, lang: str) -> None:
    ops = app.bot_data["services"].ops
    text = announce.report_text(ops, report.broadcast_id, lang, elapsed_s=report.elapsed_s,
                                stopped_reason=report.stopped_reason)
    markup = None
    if report.state == "running":  # paused after a run of errors: offer to try again
        markup = InlineKeyboardMarkup([[InlineKeyboardButton(
            t(lang, "staff_resume_broadcast"), callback_data=_cb("bresume", str(report.broadcast_id)))]])
    try:
        await app.bot.send_message(chat_id, text, parse_mode="HTML", reply_markup=markup)
    except TelegramError as exc:
        log.warning("broadcast %s: could not send the report: %s", report.broadcast_id, type(exc).__name__)


def stop_broadcast(app: Application, broadcast_id: int, lang: str, staff_id: int | None = None) -> str:
    """Cancel a broadcast (stored state, the run in this process, its timer); the staff-facing answer."""
    ops = app.bot_data["services"].ops
    try:
        ops.broadcast(broadcast_id)
    except KeyError:
        return t(lang, "staff_cancel_unknown", id=str(broadcast_id))
    found = app.bot_data.get(_BROADCASTER)
    changed = found.cancel(broadcast_id) if found is not None else ops.cancel_broadcast(broadcast_id)
    _disarm(app, broadcast_id)
    info = ops.broadcast(broadcast_id)
    if not changed:
        return t(lang, "staff_cancel_finished", id=str(broadcast_id),
                 state=t(lang, f"staff_state_name_{info.state}"))
    log.info("staff %s cancelled broadcast %s after %s sent", staff_id, broadcast_id, info.sent)
    return t(lang, "staff_cancel_done", id=str(broadcast_id), sent=str(info.sent))


def resume_broadcast(app: Application, broadcast_id: int, lang: str) -> str:
    """Resume a paused broadcast (still 'running' in the store) in this process."""
    try:
        info = app.bot_data["services"].ops.broadcast(broadcast_id)
    except KeyError:
        return t(lang, "staff_cancel_unknown", id=str(broadcast_id))
    if info.state != "running":
        return t(lang, "staff_cancel_finished", id=str(broadcast_id), state=t(lang, f"staff_state_name_{info.state}"))
    launch(app, broadcast_id, lang)
    return t(lang, "staff_resuming", id=str(broadcast_id))


# -- scheduling --------------------------------------------------------------------------------


def _job_name(broadcast_id: int) -> str:
    return f"broadcast-{broadcast_id}"


async def _fire(context: ContextTypes.DEFAULT_TYPE) -> None:
    """A scheduled broadcast's time has come."""
    launch(context.application, int(context.job.data))


async def _due_check(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Broadcasts scheduled from the terminal while the bot runs have no timer here: start due ones."""
    svc = context.application.bot_data["services"]
    for info in svc.ops.due_scheduled(svc.now()):
        launch(context.application, info.id)


def arm(app: Application, broadcast_id: int, when: datetime) -> None:
    """Run the broadcast at `when` with the JobQueue; a time already past runs it at once."""
    svc = app.bot_data["services"]
    if when <= svc.now():
        launch(app, broadcast_id)
        return
    _disarm(app, broadcast_id)
    if app.job_queue is None:  # PTB without the job-queue extra: a sleeping task does the same
        async def later() -> None:
            await asyncio.sleep((when - svc.now()).total_seconds())
            launch(app, broadcast_id)

        app.bot_data.setdefault(_TASKS + "_timers", {})[broadcast_id] = asyncio.get_running_loop().create_task(later())
        return
    app.job_queue.run_once(_fire, when=when, data=broadcast_id, name=_job_name(broadcast_id))


def _disarm(app: Application, broadcast_id: int) -> None:
    if app.job_queue is not None:
        for job in app.job_queue.get_jobs_by_name(_job_name(broadcast_id)):
            job.schedule_removal()
    timer = app.bot_data.get(_TASKS + "_timers", {}).pop(broadcast_id, None)
    if timer is not None:
        timer.cancel()


async def resume_broadcasts(app: Application) -> None:
    """At start-up: resume broadcasts a stopped or killed bot left running; re-arm scheduled ones."""
    svc = app.bot_data["services"]
    if app.running:
        app.bot_data[_STARTED] = True
    for info in svc.ops.unfinished_broadcasts():
        log.info("resuming broadcast %s: %s of %s recorded", info.id, info.sent + info.failed, info.total)
        launch(app, info.id)
    for info in svc.ops.scheduled_broadcasts():
        when = announce.scheduled_time(info)
        log.info("re-arming broadcast %s for %s", info.id, announce.format_when(when) if when else "now")
        arm(app, info.id, when or svc.now())
    if app.job_queue is not None and not app.job_queue.get_jobs_by_name(_DUE_CHECK):
        app.job_queue.run_repeating(_due_check, interval=DUE_CHECK_S, first=DUE_CHECK_S, name=_DUE_CHECK)


# -- registration ------------------------------------------------------------------------------


def handlers() -> list[BaseHandler]:
    """The staff handlers, in order; the composition root adds them before the citizen catch-alls."""
    cancel_handler = CommandHandler("cancel", cancel)
    with warnings.catch_warnings():
        # Buttons are tracked per chat and user (one staff draft per chat at a time), not per
        # message; Confirm/Cancel carry a nonce so a button of an older preview does nothing.
        warnings.filterwarnings("ignore", message=".*per_message=False", category=PTBUserWarning)
        post = ConversationHandler(
            entry_points=[CommandHandler("post", post_start)],
            states={
                P_TITLE: [MessageHandler(TEXT, post_title)],
                P_BODY: [MessageHandler(TEXT, post_body)],
                P_CATEGORY: [CallbackQueryHandler(post_category, pattern=r"^st:pcat:"), MessageHandler(TEXT, post_category)],
                P_LINK: [CommandHandler("skip", post_link), MessageHandler(TEXT, post_link)],
                P_CONFIRM: [CallbackQueryHandler(post_confirm, pattern=r"^st:post_ok:"),
                            CallbackQueryHandler(post_decline, pattern=r"^st:post_no:"),
                            MessageHandler(TEXT, post_waiting)],
            },
            fallbacks=[cancel_handler],
            allow_reentry=True,
            conversation_timeout=CONVERSATION_TIMEOUT_S,
            name="staff_post",
        )
        announce_conversation = ConversationHandler(
            entry_points=[CommandHandler("announce", announce_start),
                          CallbackQueryHandler(announce_post_button, pattern=r"^st:announce:")],
            states={
                A_PICK: [CallbackQueryHandler(announce_post_button, pattern=r"^st:apost:"),
                         MessageHandler(TEXT, announce_text)],
                A_TOPIC: [CallbackQueryHandler(announce_topic, pattern=r"^st:atopic:"),
                          MessageHandler(TEXT, announce_topic)],
                A_WHEN: [CallbackQueryHandler(announce_when, pattern=r"^st:awhen:now$"),
                         MessageHandler(TEXT, announce_when)],
                A_CONFIRM: [CallbackQueryHandler(announce_confirm, pattern=r"^st:ann_ok:"),
                            CallbackQueryHandler(announce_decline, pattern=r"^st:ann_no:"),
                            MessageHandler(TEXT, announce_waiting)],
            },
            fallbacks=[cancel_handler],
            allow_reentry=True,
            conversation_timeout=CONVERSATION_TIMEOUT_S,
            name="staff_announce",
        )
    return [
        post,
        announce_conversation,
        CommandHandler("broadcasts", broadcasts),
        CommandHandler("cancel_broadcast", cancel_broadcast),
        CommandHandler("stats", stats),
        CallbackQueryHandler(staff_button, pattern=r"^st:"),
    ]
