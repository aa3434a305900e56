"""Staff handlers: /post, /announce, /broadcasts, /cancel_broadcast, /stats and the staff buttons.

Every step and every button checks the sender is staff (BOT_STAFF_IDS): anyone else gets "this
command is for ministry staff", the attempt is logged, and nothing else happens. The logic lives
in bot/announce.py and bot/staff.py; broadcasts run in background tasks with bot/broadcast.py's
Broadcaster, editing one progress message and ending with a delivery report.
"""

from __future__ import annotations

import functools
import logging
import secrets
import warnings
from collections.abc import Awaitable, Callable
from datetime import datetime
from html import escape

from telegram import Message, Update
from telegram.error import BadRequest
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from bot import announce, callbacks, digest, lint
from bot.announce import Announcement, StaffInputError
from bot.i18n import t, tmap
from bot.models import CATEGORIES, RecordError
from bot.render import Button, Reply
from bot.staff import publish_post
from bot.telegram_delivery import keyboard_from_json
from bot.text import truncate_words
from handlers.broadcast_jobs import (
    arm,
    launch,
    resume_broadcast,
    stop_broadcast,
)
from handlers.common import NO_PREVIEW, send, services, user_lang

log = logging.getLogger(__name__)

END = ConversationHandler.END
P_TITLE, P_BODY, P_CATEGORY, P_LINK, P_CONFIRM = range(5)
A_PICK, A_TOPIC, A_WHEN, A_CONFIRM = range(5, 9)
CONVERSATION_TIMEOUT_S = 30 * 60  # an abandoned draft is dropped after half an hour
TEXT = filters.TEXT & ~filters.COMMAND

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
        draft = context.user_data.setdefault("post", {})
        draft["title"], draft["zh_title"] = announce.clean_titles(update.message.text)
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
                            category=draft["category"], url=draft.get("url", ""), zh_title=draft.get("zh_title", ""))
    except RecordError as exc:
        await _say(update, context, StaffInputError("staff_post_invalid", reason=str(exc)).message(lang))
        return END
    log.info("staff %s published post %s", update.effective_user.id, post.id)
    announce_row: tuple[tuple[Button, ...], ...] = ()
    try:
        announce_row = ((Button(t(lang, "staff_announce_this"), data=_cb("announce", post.id)),),)
    except ValueError:  # an id too long for a button: /announce <id> still works
        pass
    findings = lint.check_post(services(context).engine, post)  # posts it cannot be told from, missing data
    text = "\n".join([t(lang, "staff_post_published", id=post.id),
                      *(t(lang, "staff_lint_warning", text=escape(f.line())) for f in findings)])
    await _say(update, context, text, announce_row)
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
    question = announce.confirm_text(draft["topic"], count, when, lang)
    earlier = announce.earlier_broadcasts(services(context).ops, ann.post_id)
    if earlier:  # the same post again: say so now; Confirm will ask once more
        question = announce.again_text(earlier, ann.post_id, lang) + "\n\n" + question
    await _say(update, context, question, _confirm_buttons(lang, "ann_ok", "ann_no", nonce))
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
    post_id = Announcement.from_dict(draft["ann"]).post_id
    earlier = announce.earlier_broadcasts(svc.ops, post_id)
    if earlier and not draft.get("again"):  # announced before: a second, explicit confirmation
        await _done_with_buttons(update)
        await _say(update, context, announce.again_text(earlier, post_id, lang) + "\n\n" + t(lang, "staff_ann_again_ask"),
                   ((Button(t(lang, "staff_ann_again_confirm"), data=_cb("ann_again", draft["nonce"])),
                     Button(t(lang, "staff_cancel"), data=_cb("ann_no", draft["nonce"]))),))
        return A_CONFIRM
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


@staff_only("/announce confirm again")
async def announce_again(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """"Yes, send it again": the second confirmation for a post announced before."""
    if await _stale(update, context, "ann"):
        return A_CONFIRM
    context.user_data["ann"]["again"] = True
    return await announce_confirm(update, context)


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
    """/stats [7d]: subscribers by topic, questions today; answer rate, 👍 rate, top unanswered over the period."""
    lang = user_lang(update, context)
    typed = " ".join(context.args or [])
    try:
        period = digest.parse_period(typed) if typed else None
    except digest.PeriodError:
        await _say(update, context, t(lang, "staff_stats_period_bad"))
        return
    await _say(update, context, announce.stats(services(context), lang, period))


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
                            CallbackQueryHandler(announce_again, pattern=r"^st:ann_again:"),
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
