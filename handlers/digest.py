"""Staff: the unanswered-questions digest (/digest, daily at /digest_time), its buttons, and the search for a post.

Every command and button checks the sender is staff (handlers/staff.staff_only): anyone else is
refused and logged, whatever the button's data. The work is bot/digest.py's.
"""

from __future__ import annotations

import logging
import warnings
from datetime import datetime, timedelta
from html import unescape

from telegram import Update
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

from bot import callbacks, digest
from bot.i18n import t
from bot.render import Reply
from handlers.common import NO_PREVIEW, markup, send, services, user_lang
from handlers.staff import staff_only

log = logging.getLogger(__name__)
FIND = 20  # conversation state: waiting for the words of a search
JOB = "unanswered-digest"
COMMAND_PERIOD = timedelta(days=7)  # /digest with no period: what a week left unreviewed
LAST_SENT = "digest_sent_at"  # when the daily digest last went out (its next period starts there)
MAX_CATCH_UP = timedelta(days=7)


async def _send_digest(app: Application, chat_id: int, found: digest.Digest, lang: str) -> None:
    posts = app.bot_data["services"].engine.posts
    await app.bot.send_message(chat_id, digest.heading(found, lang), parse_mode="HTML", link_preview_options=NO_PREVIEW)
    for n, group in enumerate(found.groups, start=1):
        reply = digest.group_reply(group, posts, lang, n)
        await app.bot.send_message(chat_id, reply.text, parse_mode="HTML", reply_markup=markup(reply, lang),
                                   link_preview_options=NO_PREVIEW)


@staff_only("/digest")
async def show(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/digest [7d]: the period's declined and 👎 questions, grouped, with buttons to act on each group."""
    lang = user_lang(update, context)
    try:
        period = digest.parse_period(" ".join(context.args or []), COMMAND_PERIOD)
    except digest.PeriodError:
        await send(update, context, Reply(t(lang, "staff_digest_period_bad")), lang)
        return
    svc = services(context)
    found = digest.build(svc, svc.now() - period)
    await _send_digest(context.application, update.effective_chat.id, found, lang)


@staff_only("/digest_time")
async def set_time(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/digest_time 09:00 (Asia/Taipei) or off: when the daily digest goes to staff."""
    lang = user_lang(update, context)
    svc = services(context)
    try:
        when = digest.parse_time_of_day(context.args[0]) if context.args else None
    except digest.PeriodError:
        context.args = []  # unreadable: say how to type it
    if not context.args:
        current = digest.digest_time(svc)
        await send(update, context, Reply(t(lang, "staff_digest_time_usage", now=current.strftime("%H:%M") if current
                                            else "off")), lang)
        return
    svc.ops.set_setting(digest.DIGEST_TIME, when.strftime("%H:%M") if when else "off")
    schedule(context.application)
    text = t(lang, "staff_digest_time_set", time=when.strftime("%H:%M")) if when else t(lang, "staff_digest_time_off")
    await send(update, context, Reply(text), lang)


@staff_only("digest button")
async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Add as alternate question of a post, mark out of scope, ignore; undo an alternate question just added."""
    query = update.callback_query
    lang = user_lang(update, context)
    action = callbacks.decode(query.data)
    if action is None or action.kind != "digest" or action.args[0] == "find":
        await query.answer(t(lang, "expired"))
        return ConversationHandler.END
    verb, group_id, post_id = action.args
    outcome = digest.act(services(context), int(group_id), verb, post_id, lang)
    if not outcome.ok:
        await query.answer(unescape(outcome.text)[:200], show_alert=True)
        return ConversationHandler.END
    log.info("staff %s: digest group %s %s %s", update.effective_user.id, group_id, verb, post_id or "")
    await query.answer()
    if query.message is not None:
        try:
            await query.edit_message_reply_markup(reply_markup=None)
        except BadRequest as exc:  # too old, or the buttons are gone already
            log.debug("could not remove digest buttons: %s", exc.message)
    await send(update, context, Reply(outcome.text, outcome.buttons), lang)
    return ConversationHandler.END


@staff_only("digest search")
async def find_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """"Another post…": ask for words of its title (or its id)."""
    query = update.callback_query
    lang = user_lang(update, context)
    action = callbacks.decode(query.data)
    group = services(context).ops.digest_group(int(action.args[1])) if action and action.kind == "digest" else None
    if group is None or group.state != "open":
        await query.answer(t(lang, "expired"))
        return ConversationHandler.END
    context.user_data["digest_group"] = group.id
    await query.answer()
    await send(update, context, Reply(t(lang, "staff_digest_search_ask")), lang)
    return FIND


@staff_only("digest search")
async def find_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """The words typed: the posts they find, as buttons that add the group's question to one of them."""
    lang = user_lang(update, context)
    group_id = context.user_data.get("digest_group")
    if group_id is None:
        return ConversationHandler.END
    await send(update, context, digest.search_reply(services(context), group_id, update.message.text or "", lang), lang)
    return FIND


@staff_only("/cancel")
async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    context.user_data.pop("digest_group", None)
    await send(update, context, Reply(t(user_lang(update, context), "staff_cancelled")), user_lang(update, context))
    return ConversationHandler.END


# -- the daily digest ----------------------------------------------------------------------------


async def daily(context: ContextTypes.DEFAULT_TYPE) -> None:
    """The daily job: the questions since the last digest, to every staff member (nothing when none)."""
    app = context.application
    svc = app.bot_data["services"]
    if not svc.settings.staff_ids:  # nobody to send it to: the questions wait for /digest
        return
    now = svc.now()
    last = svc.ops.setting(LAST_SENT)
    since = max(_parse(last) or now - digest.DEFAULT_PERIOD, now - MAX_CATCH_UP)
    found = digest.build(svc, since, now)
    svc.ops.set_setting(LAST_SENT, now.isoformat())
    if not found.groups:
        return
    for staff_id in sorted(svc.settings.staff_ids):
        lang = svc.ops.user_language(staff_id) or "en"
        try:
            await _send_digest(app, staff_id, found, lang)
        except TelegramError as exc:  # a staff member who never opened the bot has no chat with it
            log.info("daily digest not delivered to one staff id: %s", type(exc).__name__)


def _parse(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def schedule(app: Application) -> None:
    """(Re)arm the daily digest at the time staff chose (or BOT_DIGEST_TIME); none when off."""
    if app.job_queue is None:
        return
    for job in app.job_queue.get_jobs_by_name(JOB):
        job.schedule_removal()
    when = digest.digest_time(app.bot_data["services"])
    if when is not None:
        app.job_queue.run_daily(daily, time=when, name=JOB)


def handlers() -> list[BaseHandler]:
    with warnings.catch_warnings():
        # The search is tracked per chat and user (one at a time), not per message.
        warnings.filterwarnings("ignore", message=".*per_message=False", category=PTBUserWarning)
        search = ConversationHandler(
            entry_points=[CallbackQueryHandler(find_start, pattern=r"^dg:find:")],
            states={FIND: [MessageHandler(filters.TEXT & ~filters.COMMAND, find_text),
                           CallbackQueryHandler(button, pattern=r"^dg:")]},
            fallbacks=[CommandHandler("cancel", cancel)],
            allow_reentry=True,
            conversation_timeout=30 * 60,
            name="staff_digest_search",
        )
    return [
        CommandHandler("digest", show),
        CommandHandler("digest_time", set_time),
        search,
        CallbackQueryHandler(button, pattern=r"^dg:"),
    ]
