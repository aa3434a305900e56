"""Shared glue for handlers: the services in bot_data, the user's language, and sending a Reply."""

from __future__ import annotations

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    LinkPreviewOptions,
    Message,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.ext import ContextTypes

from bot.i18n import interface_lang, t
from bot.render import Button, Reply
from bot.services import Services

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    return context.application.bot_data["services"]


def user_lang(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    """The interface language: the user's /language choice (kept in the operational store), else their
    Telegram language."""
    user = update.effective_user
    if user is None:
        return "en"
    if context.user_data is not None and "lang" not in context.user_data:
        context.user_data["lang"] = services(context).ops.user_language(user.id)  # once per user and process
    chosen = context.user_data.get("lang") if context.user_data is not None else None
    return chosen or interface_lang(user.language_code)


def markup(reply: Reply, lang: str) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | None:
    if reply.buttons:
        return InlineKeyboardMarkup([[_button(b) for b in row] for row in reply.buttons])
    if reply.menu:
        keys = [["menu_news", "menu_workshops"], ["menu_trafficking", "menu_contact"], ["menu_hotline", "menu_help"]]
        return ReplyKeyboardMarkup([[KeyboardButton(t(lang, k)) for k in row] for row in keys], resize_keyboard=True)
    return None


def _button(b: Button) -> InlineKeyboardButton:
    if b.url:
        return InlineKeyboardButton(b.label, url=b.url)
    if b.inline_query is not None:
        return InlineKeyboardButton(b.label, switch_inline_query=b.inline_query)
    return InlineKeyboardButton(b.label, callback_data=b.data)


async def send(update: Update, context: ContextTypes.DEFAULT_TYPE, reply: Reply, lang: str) -> Message:
    """Send a Reply to the chat of the update, as HTML, never with a link preview."""
    chat = update.effective_chat
    message = await context.bot.send_message(
        chat_id=chat.id,
        text=reply.text,
        parse_mode="HTML",
        reply_markup=markup(reply, lang),
        link_preview_options=NO_PREVIEW,
    )
    user = update.effective_user
    services(context).remember_message(chat.id, message.message_id, user.id if user else None)
    return message
