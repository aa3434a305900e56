"""Citizen handlers: commands and free text. Each reads the update, calls bot/, sends the Reply."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot import feedback
from bot.i18n import menu_action, t
from bot.intake import BURST_MARK
from bot.render import Reply
from handlers.common import send, services, user_lang


def _args(context: ContextTypes.DEFAULT_TYPE) -> str:
    return " ".join(context.args or [])


def _burst(update: Update) -> dict:
    """The messages a combined message stands for (bot/intake.py reads a person's burst as one)."""
    return (update.effective_message.api_kwargs or {}).get(BURST_MARK) or {}


def _remember_incoming(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.effective_message and update.effective_chat and update.effective_chat.type == "private":
        user = update.effective_user.id if update.effective_user else None
        for message_id in _burst(update).get("message_ids") or [update.effective_message.message_id]:
            services(context).remember_message(update.effective_chat.id, message_id, user)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start, also with a deep-link payload such as p055; a returning blocked subscriber is reactivated."""
    lang = user_lang(update, context)
    svc = services(context)
    svc.ops.reactivate(update.effective_chat.id)
    await send(update, context, svc.assistant.start(lang, _args(context)), lang)


async def command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/help, /news [year], /workshops, /trafficking, /contact, /hotline [topic], /search words."""
    lang = user_lang(update, context)
    name = update.effective_message.text.split()[0].lstrip("/").split("@")[0].lower()
    reply = services(context).assistant.command(name, _args(context), lang)
    await send(update, context, reply or services(context).assistant.help(lang), lang)


async def text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A question in the person's own words, a caption, several messages read together, or a menu label."""
    _remember_incoming(update, context)
    lang = user_lang(update, context)
    svc = services(context)
    message = update.effective_message.text or update.effective_message.caption or ""
    if context.bot.username:
        message = message.replace(f"@{context.bot.username}", " ")
    action = menu_action(message)
    if action:
        reply = svc.assistant.command(action, "", lang) or svc.assistant.help(lang)
        await send(update, context, reply, lang)
        return
    answer, reply = svc.assistant.ask(message, lang, messages=int(_burst(update).get("count") or 1))
    ref = svc.record_question(answer, update.effective_user.id if update.effective_user else None)
    await send(update, context, feedback.with_vote_buttons(reply, ref), lang)


async def non_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, photos, voice and the like: ask for a typed question."""
    lang = user_lang(update, context)
    await send(update, context, Reply(t(lang, "non_text")), lang)


async def language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/language: switch between English and Traditional Chinese."""
    lang = user_lang(update, context)
    await send(update, context, services(context).assistant.language_menu(lang), lang)
