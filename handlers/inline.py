"""Inline mode: "@bot words" typed in any chat offers posts and contacts to send there (bot/inline.py)."""

from __future__ import annotations

from telegram import InlineQueryResultArticle, InputTextMessageContent, Update
from telegram.ext import BaseHandler, ContextTypes, InlineQueryHandler

from bot import inline
from bot.render import Reply
from handlers.common import NO_PREVIEW, markup, services, user_lang


async def inline_query(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Up to 10 posts or contacts for the words typed; the latest news for none."""
    query = update.inline_query
    lang = user_lang(update, context)
    svc = services(context)
    found = inline.answer_query(svc.engine, query.query, lang, svc.now(), bot_username=context.bot.username or "")
    results = [
        InlineQueryResultArticle(
            id=item.id, title=item.title, description=item.description,
            input_message_content=InputTextMessageContent(item.text, parse_mode="HTML",
                                                          link_preview_options=NO_PREVIEW),
            reply_markup=markup(Reply(item.text, item.buttons), lang))
        for item in found.items]
    await query.answer(results, cache_time=found.cache_s, is_personal=found.personal)


def handlers() -> list[BaseHandler]:
    return [InlineQueryHandler(inline_query)]
