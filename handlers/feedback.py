"""👍 / 👎 under an answer. The vote is stored by bot/feedback.py (once per answer, never who voted)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, ContextTypes

from bot import callbacks, feedback
from bot.i18n import INTERFACE_LANGS, t
from handlers.common import send, services, user_lang


async def vote(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A vote on an answer; a 👎 also gets the next answers the engine had and the 1996 hotline."""
    query = update.callback_query
    lang = user_lang(update, context)
    action = callbacks.decode(query.data)
    if action is None or action.kind != "vote":
        await query.answer(t(lang, "expired"))
        return
    direction, ref = action.args
    svc = services(context)
    result = feedback.record_vote(svc, ref, direction == "up")
    await query.answer(feedback.notice(result, lang))
    if direction == "down" and result.status in ("saved", "changed") and update.effective_chat is not None:
        asked_in = result.question.lang if result.question else None
        reply_lang = asked_in if asked_in in INTERFACE_LANGS and asked_in != "en" else lang
        await send(update, context, feedback.down_reply(result.question, svc.engine.posts, svc.engine.contacts,
                                                        reply_lang), reply_lang)


def handlers() -> list[BaseHandler]:
    return [CallbackQueryHandler(vote, pattern=r"^v:")]
