"""The composition root: builds the python-telegram-bot Application and runs it.

Handlers are registered in one ordered list (`handler_table`). Updates are fetched by our own
polling loop (bot/polling.py), which confirms an update to Telegram only after it was handled,
or by a webhook whose HTTP answer comes after handling (bot/webhook.py); both hand every update
to bot/intake.py (one update at a time de-serialised, bursts read together, the flood gate).
Start-up failures end with one line naming what is wrong and exit code 2.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal

from telegram import BotCommand, BotCommandScopeChat
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest

from bot.assistant import CITIZEN_COMMANDS
from bot.config import DEFAULT_API_BASE, Settings
from bot.health import is_storage_error
from bot.i18n import tmap
from bot.lock import AlreadyRunning, InstanceLock
from bot.logs import setup_logging
from bot.opstore import OpStoreError
from bot.services import Services
from bot.store import StoreError
from handlers import (
    broadcast_jobs,
    callbacks,
    citizen,
    digest,
    errors,
    feedback,
    feeds,
    inline,
    staff,
    subscriptions,
)

log = logging.getLogger("bot")


class _MentionsMe(filters.MessageFilter):
    """Group messages that @mention this bot or reply to one of its messages."""

    def filter(self, message) -> bool:
        username = message.get_bot().username
        if message.reply_to_message and message.reply_to_message.from_user and \
                message.reply_to_message.from_user.id == message.get_bot().id:
            return True
        return bool(username) and f"@{username}".lower() in (message.text or "").lower()


PRIVATE = filters.ChatType.PRIVATE
QUESTION = filters.TEXT & ~filters.COMMAND
CAPTIONED = filters.CAPTION & ~filters.TEXT  # a photo, video or document with a caption: read as a question


def handler_table() -> list[tuple[int, BaseHandler]]:
    """Every handler, in the order PTB tries them. (The flood gate sits before them, in bot/intake.py.)"""
    commands = ["help", "news", "workshops", "trafficking", "contact", "hotline", "search"]
    return [
        (0, CommandHandler("start", citizen.start)),
        (0, CommandHandler(commands, citizen.command)),
        (0, CommandHandler("language", citizen.language)),
        *[(0, h) for h in subscriptions.handlers()],
        *[(0, h) for h in feeds.handlers()],  # before staff's: its catch-all takes every other staff button
        *[(0, h) for h in staff.handlers()],
        *[(0, h) for h in digest.handlers()],  # staff: /digest, /digest_time, the digest's buttons and search
        *[(0, h) for h in feedback.handlers()],  # 👍 / 👎 under answers
        *[(0, h) for h in inline.handlers()],  # "@bot words" in any chat
        (0, CallbackQueryHandler(callbacks.button)),
        (0, MessageHandler(QUESTION & PRIVATE, citizen.text)),
        (0, MessageHandler(CAPTIONED & PRIVATE, citizen.text)),
        (0, MessageHandler(QUESTION & filters.ChatType.GROUPS & _MentionsMe(), citizen.text)),
        (0, MessageHandler(filters.COMMAND & PRIVATE, citizen.command)),
        (0, MessageHandler(PRIVATE & ~filters.TEXT & ~filters.CAPTION & ~filters.StatusUpdate.ALL, citizen.non_text)),
    ]


def menu_commands(lang: str = "en") -> list[BotCommand]:
    descriptions = tmap(lang, "commands")
    return [BotCommand(name, descriptions.get(name, name)[:256]) for name in CITIZEN_COMMANDS]


RETENTION_EVERY_S = 6 * 3600  # the question log's retention is applied at start-up and four times a day
STORE_WATCH_S = 2.0  # how soon the bot sees posts another process (an import, `post add`) wrote
STORAGE_RETRY_S = 5.0  # how often writes that failed (disk full, read-only) are tried again


def _apply_retention(services: Services) -> None:
    try:
        services.apply_retention()
    except Exception as exc:
        if not is_storage_error(exc):
            raise
        services.health.failed("state", exc, doing="applying the question log's retention")


async def _retention(context) -> None:
    _apply_retention(context.application.bot_data["services"])


async def _watch_store(context) -> None:
    context.application.bot_data["services"].refresh_store()


async def _retry_storage(context) -> None:
    context.application.bot_data["services"].retry_state()


async def _post_init(app: Application) -> None:
    await app.bot.set_my_commands(menu_commands("en"))
    await app.bot.set_my_commands(menu_commands("zh"), language_code="zh")
    services: Services = app.bot_data["services"]
    staff_texts = {**tmap("en", "staff_commands"), **tmap("en", "staff_commands_feeds"),
                   **tmap("en", "staff_commands_learning")}
    staff_menu = menu_commands("en") + [BotCommand(name, text[:256]) for name, text in staff_texts.items()]
    for staff_id in services.settings.staff_ids:  # staff see their commands in their own menu
        try:
            await app.bot.set_my_commands(staff_menu, scope=BotCommandScopeChat(staff_id))
        except TelegramError as exc:  # a staff member who never opened the bot has no chat yet
            log.info("staff command menu not set for one staff id: %s", type(exc).__name__)
    services.assistant.bot_username = app.bot.username or ""
    log.info("bot @%s ready: %d posts, %d contacts", app.bot.username, len(services.engine.posts),
             len(services.engine.contacts))


def build_application(settings: Settings, services: Services, *, rate_limit: bool = True,
                      request: BaseRequest | None = None, updates_request: BaseRequest | None = None) -> Application:
    builder = (
        ApplicationBuilder()
        .token(settings.token)
        .base_url(settings.api_base_url)
        .updater(None)  # our own polling loop or webhook confirms updates only after handling
    )
    if request is not None:
        builder = builder.request(request)
    if updates_request is not None:
        builder = builder.get_updates_request(updates_request)
    if rate_limit:
        # Replies: Telegram's per-group limit (20/min) and 429 retries; the overall 30/s cap is for bulk
        # sending, which bot/broadcast.py paces itself (BOT_BROADCAST_RATE). BOT_REPLY_MAX_RATE adds an
        # overall cap on replies too when set.
        builder = builder.rate_limiter(AIORateLimiter(overall_max_rate=settings.reply_max_rate, max_retries=2))
    app = builder.build()
    app.bot_data["services"] = services
    for group, handler in handler_table():
        app.add_handler(handler, group=group)
    app.add_error_handler(errors.on_error)
    return app


def run_bot(settings: Settings, *, webhook: bool = False) -> int:
    """Run until SIGTERM/SIGINT; finish the update in hand, write state, exit 0. A start-up failure
    is one line in the log and exit code 2 (3: another bot already runs on this store)."""
    setup_logging(settings.log_level, secrets=(settings.token, settings.webhook_secret),
                  personal=settings.log_personal)
    if webhook and not settings.webhook_secret:
        log.error("cannot start: webhook mode needs BOT_WEBHOOK_SECRET (16-256 characters of A-Z, a-z, 0-9, _ or -)")
        return 2
    # A SIGTERM during start-up (loading the store takes a moment) ends the start cleanly too.
    stopping: list[int] = []
    early = {sig: signal.signal(sig, lambda signum, _frame: stopping.append(signum))
             for sig in (signal.SIGTERM, signal.SIGINT)}
    lock = InstanceLock(settings.lock_path)
    try:
        lock.acquire()
    except (AlreadyRunning, OSError) as exc:
        for sig, previous in early.items():
            signal.signal(sig, previous)
        if isinstance(exc, AlreadyRunning):
            log.error("%s", exc)
            return 3
        log.error("cannot start: cannot create the lock file %s (%s): make the folder writable",
                  settings.lock_path, exc.strerror)
        return 2
    try:
        services = Services.open(settings)
    except (StoreError, OpStoreError) as exc:
        log.error("cannot start: %s", exc)
        lock.release()
        return 2
    # The store, indexes and lexicons are a million long-lived objects: move them out of the garbage
    # collector's sight, so its passes stay short while messages are answered.
    gc.collect()
    gc.freeze()
    try:
        return asyncio.run(_serve(settings, services, webhook, stopping))
    finally:
        for sig, previous in early.items():
            signal.signal(sig, previous)
        services.close()
        lock.release()


async def _serve(settings: Settings, services: Services, webhook: bool, stopping: list[int] | None = None) -> int:
    from bot.intake import Intake
    from bot.polling import poll_until_stopped
    from bot.webhook import serve_webhook

    app = build_application(settings, services)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if stopping:  # asked to stop while starting
        stop.set()
    try:
        await app.initialize()
    except InvalidToken:
        log.error("cannot start: Telegram rejected the token (getMe): copy it again from @BotFather into "
                  "TELEGRAM_BOT_TOKEN")
        return 2
    except NetworkError as exc:  # TimedOut is a NetworkError
        where = "Telegram" if settings.api_base_url == DEFAULT_API_BASE else settings.api_base_url
        log.error("cannot start: cannot reach %s (%s): check the network, a proxy or TELEGRAM_API_BASE_URL",
                  where, type(exc).__name__)
        return 2
    except TelegramError as exc:
        log.error("cannot start: Telegram refused getMe (%s: %s)", type(exc).__name__, exc)
        return 2
    try:
        await app.start()
        await _post_init(app)  # run_polling would call it; our own loop does
        _apply_retention(services)
        app.job_queue.run_repeating(_retention, interval=RETENTION_EVERY_S, first=RETENTION_EVERY_S,
                                    name="question-log-retention")
        app.job_queue.run_repeating(_watch_store, interval=STORE_WATCH_S, first=STORE_WATCH_S, name="store-watch")
        app.job_queue.run_repeating(_retry_storage, interval=STORAGE_RETRY_S, first=STORAGE_RETRY_S,
                                    name="storage-retry")
        await broadcast_jobs.resume_broadcasts(app)
        feeds.start(app)  # BOT_FEED_URLS read every BOT_FEED_INTERVAL
        digest.schedule(app)  # the daily unanswered-questions digest to staff
        intake = Intake(app, services)
        try:
            if webhook:
                await serve_webhook(app, settings, intake, stop)
            else:
                await poll_until_stopped(app, intake, stop)
        finally:
            await app.stop()
    finally:
        await app.shutdown()
    log.info("stopped cleanly")
    return 0
