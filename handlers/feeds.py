"""News sources in the running bot: the scheduled refresh (JobQueue), announcing new posts, and the
staff commands /feeds, /feed_refresh and /feed_announce.

The reading and importing is bot/feeds.py's FeedRefresher; this module ties it to the Application:
every BOT_FEED_INTERVAL it runs, then for each new post chosen for announcement either sends staff a
preview with "Announce" / "Do not announce" buttons ("preview"), or starts the broadcast to the
post's topic at once and tells staff ("auto"), through the existing broadcasts (bot/announce.py,
handlers/broadcast_jobs.py).
"""

from __future__ import annotations

import logging
from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import Application, BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes

from bot import announce, callbacks
from bot.feeds import FeedRefresher, SourceRun, run_summary, source_states, status_text
from bot.i18n import t, tmap
from bot.opstore import ANNOUNCE_MODES
from bot.render import Reply
from bot.telegram_delivery import keyboard_from_json
from handlers.broadcast_jobs import launch
from handlers.common import NO_PREVIEW, send, services, user_lang
from handlers.staff import staff_only

log = logging.getLogger(__name__)
_REFRESHER, _JOB = "feed_refresher", "feed-refresh"
FIRST_RUN_S = 5.0  # after start-up, the first run waits this long (sources in backoff stay waiting)
ANNOUNCED_LOOKBACK = 200  # broadcasts looked at to tell whether a post was already announced


def refresher(app: Application) -> FeedRefresher:
    found = app.bot_data.get(_REFRESHER)
    if found is None:
        svc = app.bot_data["services"]
        found = FeedRefresher(svc.store, svc.ops, svc.settings)
        app.bot_data[_REFRESHER] = found
    return found


def start(app: Application) -> None:
    """Schedule the refresh every BOT_FEED_INTERVAL when BOT_FEED_URLS names sources."""
    settings = app.bot_data["services"].settings
    if not settings.feed_urls or app.job_queue is None:
        return
    refresher(app)
    if not app.job_queue.get_jobs_by_name(_JOB):
        app.job_queue.run_repeating(_refresh_job, interval=settings.feed_interval_s,
                                    first=min(FIRST_RUN_S, settings.feed_interval_s), name=_JOB)
    log.info("news sources: %d, read every %g s", len(settings.feed_urls), settings.feed_interval_s)


async def _refresh_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    await run_and_announce(context.application)


async def run_and_announce(app: Application, *, force: bool = False) -> list[SourceRun]:
    """One run over the sources, then the announcements it chose. Never raises (a job must not die)."""
    try:
        runs = await refresher(app).refresh(force=force)
    except Exception:
        log.exception("news sources: the run stopped on an error; the next one tries again")
        return []
    for run in runs:
        for post_id in run.to_announce:
            try:
                if run.mode == "auto":
                    await _announce_now(app, run, post_id)
                elif run.mode == "preview":
                    await _send_previews(app, run, post_id)
            except Exception:
                log.exception("news sources: could not announce post %s", post_id)
    return runs


def _topic(post) -> str:
    return announce.suggested_topic(post) or "news"


async def _announce_now(app: Application, run: SourceRun, post_id: str, staff_id: int = 0) -> int | None:
    svc = app.bot_data["services"]
    post = svc.store.post(post_id)
    if post is None:
        return None
    topic = _topic(post)
    broadcast_id = announce.create(svc.ops, staff_id, topic, announce.from_post(post, bot_username=app.bot.username or ""))
    log.info("news sources: post %s announced to %s (broadcast %s, %s)", post_id, topic, broadcast_id, run.mode)
    launch(app, broadcast_id)
    for staff in svc.settings.staff_ids:
        await _tell(app, staff, t("en", "staff_feed_auto", id=post_id, source=escape(run.name or run.url),
                                  topic=escape(announce.topic_label(topic, "en")), bid=str(broadcast_id)))
    return broadcast_id


async def _tell(app: Application, chat_id: int, text: str, markup=None) -> None:
    try:
        await app.bot.send_message(chat_id, text, parse_mode="HTML", reply_markup=markup, link_preview_options=NO_PREVIEW)
    except TelegramError as exc:  # a staff member who never opened the bot has no chat
        log.info("news sources: no message to a staff chat (%s)", type(exc).__name__)


async def _send_previews(app: Application, run: SourceRun, post_id: str) -> None:
    """Each staff member gets the announcement exactly as subscribers would, and two buttons."""
    svc = app.bot_data["services"]
    post = svc.store.post(post_id)
    if post is None:
        return
    topic = _topic(post)
    ann = announce.from_post(post, bot_username=app.bot.username or "")
    lang = "en"
    label = announce.topic_label(topic, lang)
    buttons = InlineKeyboardMarkup([[
        InlineKeyboardButton(t(lang, "staff_feed_announce_button", topic=label),
                             callback_data=callbacks.encode("staff", "fdok", post_id)),
        InlineKeyboardButton(t(lang, "staff_feed_skip_button"), callback_data=callbacks.encode("staff", "fdno", post_id)),
    ]])
    for staff in svc.settings.staff_ids:
        await _tell(app, staff, t(lang, "staff_feed_preview_intro", source=escape(run.name or run.url),
                                  topic=escape(label), n=str(announce.recipients(svc.ops, topic))))
        await _tell(app, staff, ann.text_html, keyboard_from_json(ann.buttons_json))
        await _tell(app, staff, f"<b>{escape(post.id)}</b> · {escape(post.date)}", buttons)


async def _say(update: Update, context: ContextTypes.DEFAULT_TYPE, text: str):
    return await send(update, context, Reply(text), user_lang(update, context))


def _announced(ops, post_id: str) -> int | None:
    return next((b.id for b in ops.recent_broadcasts(ANNOUNCED_LOOKBACK) if b.post_id == post_id), None)


# -- staff: buttons and commands ---------------------------------------------------------------

@staff_only("news source button")
async def preview_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """"Announce" or "Do not announce" under a new post's preview."""
    query, lang = update.callback_query, user_lang(update, context)
    action = callbacks.decode(query.data)
    verb, post_id = action.args if action and action.kind == "staff" else ("", "")
    svc = services(context)
    post = svc.store.post(post_id)
    if post is None:
        await query.answer(t(lang, "not_found_post"))
        return
    await query.answer()
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except TelegramError:
        pass
    if verb == "fdno":
        log.info("staff %s: post %s not announced", update.effective_user.id, post_id)
        await _say(update, context, t(lang, "staff_feed_skipped", id=post_id))
        return
    earlier = _announced(svc.ops, post_id)
    if earlier is not None:
        await _say(update, context, t(lang, "staff_feed_already", id=post_id, bid=str(earlier)))
        return
    topic = _topic(post)
    ann = announce.from_post(post, bot_username=context.bot.username or "")
    broadcast_id = announce.create(svc.ops, update.effective_user.id, topic, ann)
    log.info("staff %s announced post %s to %s (broadcast %s)", update.effective_user.id, post_id, topic, broadcast_id)
    message = await _say(update, context, t(lang, "staff_feed_announced", id=post_id,
                                            topic=escape(announce.topic_label(topic, lang)), bid=str(broadcast_id)))
    svc.ops.set_progress_message(broadcast_id, message.chat_id, message.message_id)
    launch(context.application, broadcast_id, lang)


@staff_only("/feeds")
async def feeds(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/feeds: each news source, its last success and error, and how its new posts are announced."""
    svc = services(context)
    await _say(update, context, status_text(svc.ops, svc.settings, user_lang(update, context)))


@staff_only("/feed_refresh")
async def feed_refresh(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/feed_refresh: read every news source now, backoff or not."""
    lang = user_lang(update, context)
    svc = services(context)
    if not svc.settings.feed_urls:
        await _say(update, context, t(lang, "staff_feeds_none"))
        return
    await _say(update, context, t(lang, "staff_feed_refreshing", n=str(len(svc.settings.feed_urls))))
    runs = await run_and_announce(context.application, force=True)
    await _say(update, context, "\n".join(run_summary(run, lang) for run in runs) or t(lang, "staff_feeds_none"))


@staff_only("/feed_announce")
async def feed_announce(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/feed_announce N off|preview|auto: announce source N's new posts not, after a preview, or at once."""
    lang = user_lang(update, context)
    svc = services(context)
    args = context.args or []
    states = source_states(svc.ops, svc.settings)
    if len(args) != 2 or not args[0].isdigit() or not 1 <= int(args[0]) <= len(states) or \
            args[1].lower() not in ANNOUNCE_MODES:
        await _say(update, context, t(lang, "staff_feed_announce_usage") + "\n\n" +
                   status_text(svc.ops, svc.settings, lang))
        return
    n, mode = int(args[0]), args[1].lower()
    url = states[n - 1][0]
    svc.ops.set_feed_announce(url, mode)
    log.info("staff %s: news source %s announce mode %s", update.effective_user.id, url, mode)
    await _say(update, context, t(lang, "staff_feed_announce_set", n=str(n), url=escape(url),
                                  mode=escape(tmap(lang, "staff_feed_modes").get(mode, mode))))


def handlers() -> list[BaseHandler]:
    """Registered before the staff handlers (whose catch-all takes every other staff button)."""
    return [
        CommandHandler("feeds", feeds),
        CommandHandler("feed_refresh", feed_refresh),
        CommandHandler("feed_announce", feed_announce),
        CallbackQueryHandler(preview_button, pattern=r"^st:fd(ok|no):"),
    ]
