"""The error handler: log the failure without secrets and tell the person something went wrong."""

from __future__ import annotations

import logging
import sqlite3

from telegram import Update
from telegram.ext import ContextTypes

from bot.health import describe, is_storage_error
from bot.i18n import t
from handlers.common import services, user_lang

log = logging.getLogger("bot.errors")


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Every update gets an answer, even when a handler failed. A storage failure (disk full,
    read-only) is a condition the bot lives through: one line via bot/health.py, not a traceback."""
    storage = is_storage_error(context.error)
    if storage and isinstance(context.error, sqlite3.Error):  # the state database: retried, see bot/health.py
        services(context).health.failed("state", context.error, doing="a handler's write")
    elif storage:  # the post store (a staff /post): nothing was changed, the staff member is told
        log.error("the post store could not be written (%s); nothing changed, the bot answers from memory",
                  describe(context.error))
    else:
        log.error("handler failed: %s: %s", type(context.error).__name__, context.error,
                  exc_info=(type(context.error), context.error, context.error.__traceback__))
    if not isinstance(update, Update) or update.effective_chat is None:
        if isinstance(update, Update) and update.callback_query is not None:
            try:
                await update.callback_query.answer()
            except Exception:  # noqa: BLE001 - nothing else to tell
                pass
        return
    try:
        if update.callback_query is not None:
            await update.callback_query.answer()
        lang = user_lang(update, context)
        await context.bot.send_message(update.effective_chat.id, t(lang, "error_storage" if storage else "error"))
    except Exception as exc:  # the network may be the reason we are here
        log.warning("could not tell the user about the error: %s", type(exc).__name__)
