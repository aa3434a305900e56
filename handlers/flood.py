"""Flood control in front of all handlers (group -1): one "slow down" notice, then silence for a while."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.config import Settings
from bot.flood import FloodGate
from bot.i18n import t
from handlers.common import services, user_lang


def make_gate(settings: Settings) -> FloodGate:
    per_minute = settings.rate_limit_per_minute
    return FloodGate(per_minute=per_minute, burst=max(8, per_minute // 3))


async def gate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stop the update here when its sender floods; everyone else goes on untouched."""
    user = update.effective_user
    if user is None or services(context).is_staff(user.id):  # staff work in bursts (/post, /announce)
        return
    verdict = context.application.bot_data["flood"].check(user.id)
    if verdict == "ok":
        return
    if verdict == "warn" and update.effective_chat is not None:
        if update.callback_query is not None:
            await update.callback_query.answer(t(user_lang(update, context), "slow_down"))
        else:
            await context.bot.send_message(update.effective_chat.id, t(user_lang(update, context), "slow_down"))
    raise ApplicationHandlerStop
