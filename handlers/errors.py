"""The error handler: log the failure without secrets and tell the person something went wrong."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ContextTypes

from bot.i18n import t
from handlers.common import user_lang

log = logging.getLogger("bot.errors")


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Every update gets an answer, even when a handler failed."""
    log.error("handler failed: %s: %s", type(context.error).__name__, context.error,
              exc_info=(type(context.error), context.error, context.error.__traceback__))
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    try:
        if update.callback_query is not None:
            await update.callback_query.answer()
        await context.bot.send_message(update.effective_chat.id, t(user_lang(update, context), "error"))
    except Exception as exc:  # the network may be the reason we are here
        log.warning("could not tell the user about the error: %s", type(exc).__name__)
