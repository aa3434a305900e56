"""/subscribe, /unsubscribe, /subscriptions and the topic toggle buttons."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes

from bot import callbacks
from bot import subscriptions as subs
from bot.i18n import t
from handlers.common import NO_PREVIEW, markup, send, services, user_lang


async def subscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/subscribe: all topics by default, with buttons to choose."""
    lang = user_lang(update, context)
    await send(update, context, subs.subscribe(services(context).ops, update.effective_chat.id, lang), lang)


async def unsubscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/unsubscribe: no more announcements."""
    lang = user_lang(update, context)
    await send(update, context, subs.unsubscribe(services(context).ops, update.effective_chat.id, lang), lang)


async def subscriptions(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/subscriptions: what this chat receives."""
    lang = user_lang(update, context)
    await send(update, context, subs.status(services(context).ops, update.effective_chat.id, lang), lang)


async def toggle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A topic button: switch that topic on or off, in the same message."""
    query = update.callback_query
    lang = user_lang(update, context)
    action = callbacks.decode(query.data)
    if action is None or action.kind != "sub" or update.effective_chat is None:  # None: an inline message
        await query.answer(t(lang, "expired"))
        return
    reply = subs.toggle(services(context).ops, update.effective_chat.id, action.args[0], lang)
    await query.answer()
    await query.edit_message_text(reply.text, parse_mode="HTML", reply_markup=markup(reply, lang),
                                  link_preview_options=NO_PREVIEW)


def handlers() -> list[BaseHandler]:
    return [
        CommandHandler("subscribe", subscribe),
        CommandHandler("unsubscribe", unsubscribe),
        CommandHandler("subscriptions", subscriptions),
        CallbackQueryHandler(toggle, pattern=r"^sub:"),
    ]
