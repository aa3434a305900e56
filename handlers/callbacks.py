"""Inline button presses. Data is validated by bot/callbacks; anything unknown gets "this button has expired"."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot import callbacks
from bot.i18n import t
from bot.render import Reply
from handlers.common import NO_PREVIEW, markup, send, services, user_lang

log = logging.getLogger(__name__)
EDIT_IN_PLACE = {"news", "cat"}  # page through a list in the same message


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A citizen's button: open a post, more results, next page, share, language, clear chat."""
    query = update.callback_query
    lang = user_lang(update, context)
    action = callbacks.decode(query.data)
    if action is None or action.kind in ("sub", "staff"):
        await query.answer(t(lang, "expired"), show_alert=False)
        return
    if action.kind == "lang":
        context.user_data["lang"] = action.args[0]
        services(context).ops.set_user_language(update.effective_user.id, action.args[0])
        await query.answer()
        await send(update, context, Reply(t(action.args[0], "language_set"), menu=True), action.args[0])
        return
    if action.kind == "clear":
        await clear_chat(update, context)
        return
    reply = services(context).assistant.press(query.data, lang)
    await query.answer()
    if reply is None:
        return
    if action.kind in EDIT_IN_PLACE and query.message is not None:
        try:
            await query.edit_message_text(reply.text, parse_mode="HTML", reply_markup=markup(reply, lang),
                                          link_preview_options=NO_PREVIEW)
            return
        except BadRequest as exc:  # too old to edit, or unchanged: send it as a new message
            log.info("could not edit list message: %s", exc.message)
    await send(update, context, reply, lang)


async def clear_chat(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Delete the messages of this chat the bot may delete (its own, and the person's in a private chat)."""
    query = update.callback_query
    lang = user_lang(update, context)
    chat_id = update.effective_chat.id
    ids = services(context).forget_chat(chat_id)
    if query.message is not None and query.message.message_id not in ids:
        ids.insert(0, query.message.message_id)
    await query.answer(t(lang, "cleared"))
    for start in range(0, len(ids), 100):
        try:
            await context.bot.delete_messages(chat_id, ids[start : start + 100])
        except BadRequest as exc:  # older than 48 hours or already gone
            log.info("could not delete some messages: %s", exc.message)
