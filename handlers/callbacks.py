"""Inline button presses. Data is validated by bot/callbacks; anything unknown gets "this button has expired".

A button on an inline message (sent through another chat, so the press carries no message and no
chat) is answered in that message or with a short notice, never with a reply to a chat we do not know.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from bot import callbacks
from bot.i18n import t
from bot.render import Reply
from handlers.common import NO_PREVIEW, markup, send, services, user_lang

log = logging.getLogger(__name__)
EDIT_IN_PLACE = {"news", "cat", "hot"}  # page through a list in the same message


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A citizen's button: open a post, more results, next page, share, language, clear chat."""
    query = update.callback_query
    lang = user_lang(update, context)
    action = callbacks.decode(query.data)
    if action is None or action.kind in ("sub", "staff", "vote", "digest"):
        await query.answer(t(lang, "expired"), show_alert=False)
        return
    inline = update.effective_chat is None  # a button on an inline message: no chat to send to
    if action.kind == "lang":
        context.user_data["lang"] = action.args[0]
        services(context).ops.set_user_language(update.effective_user.id, action.args[0])
        if inline:
            await query.answer(t(action.args[0], "language_set")[:200])
            return
        await query.answer()
        await send(update, context, Reply(t(action.args[0], "language_set"), menu=True), action.args[0])
        return
    if action.kind == "clear":
        if inline:
            services(context).forget_user(update.effective_user.id)
            await query.answer(t(lang, "cleared_none")[:200])
            return
        await clear_chat(update, context)
        return
    reply = services(context).assistant.press(query.data, lang)
    if inline:
        await _answer_inline(query, reply, lang)
        return
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


async def _answer_inline(query, reply: Reply | None, lang: str) -> None:
    """Show the answer in the inline message itself (the only place we can)."""
    if reply is None:
        await query.answer()
        return
    try:
        await query.edit_message_text(reply.text, parse_mode="HTML", reply_markup=markup(reply, lang),
                                      link_preview_options=NO_PREVIEW)
        await query.answer()
    except BadRequest as exc:
        log.info("could not edit an inline message: %s", exc.message)
        await query.answer(t(lang, "expired"))


async def clear_chat(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Delete this person's exchange with the bot and their logged questions (bot/services.py chooses
    which messages); the answer says so when some could not be deleted."""
    query = update.callback_query
    lang = user_lang(update, context)
    chat = update.effective_chat
    ids, too_old = services(context).clear_chat(chat.id, update.effective_user.id, private=chat.type == "private",
                                                card_id=query.message.message_id if query.message else None)
    if not ids and not too_old:
        await query.answer(t(lang, "cleared_none")[:200], show_alert=True)
        return
    failed = too_old > 0
    for start in range(0, len(ids), 100):
        try:
            if not await context.bot.delete_messages(chat.id, ids[start : start + 100]):
                failed = True
        except TelegramError as exc:  # older than 48 hours, already gone, or no right to delete here
            log.info("could not delete some messages: %s", type(exc).__name__)
            failed = True
    await query.answer(t(lang, "clear_failed" if failed else "cleared")[:200], show_alert=failed)
