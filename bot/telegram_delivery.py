"""The one place that turns a Telegram send into the core's delivery errors.

bot/broadcast.py takes a plain send function and knows only bot.delivery's exceptions; this
module wraps Bot.send_message and translates telegram.error.* so the core never imports
`telegram`.
"""

from __future__ import annotations

import json
import warnings
from datetime import timedelta
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.delivery import (
    ChatNotFound,
    PermanentDeliveryError,
    RecipientBlocked,
    RetryLater,
    SendFn,
    TransientDeliveryError,
)

_NOT_FOUND = ("chat not found", "user not found", "peer_id_invalid", "chat_id_invalid")


def retry_after_seconds(exc: RetryAfter) -> float:
    """Seconds to wait: PTB 22 gives an int or a timedelta (PTB_TIMEDELTA=true), and warns on access."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value: Any = exc.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


def _forbidden_reason(message: str) -> str:
    text = message.lower()
    if "deactivated" in text:
        return "deactivated"
    if "kicked" in text:
        return "kicked"
    return "blocked"


def translate_error(exc: BaseException) -> BaseException:
    """The bot.delivery error for a telegram.error; anything else is returned unchanged."""
    if isinstance(exc, RetryAfter):
        return RetryLater(retry_after_seconds(exc))
    if isinstance(exc, Forbidden):
        return RecipientBlocked(_forbidden_reason(exc.message))
    if isinstance(exc, ChatMigrated):
        return PermanentDeliveryError(f"chat_migrated: {exc.new_chat_id}")
    if isinstance(exc, BadRequest):  # before NetworkError: BadRequest subclasses it
        message = exc.message.lower()
        if any(marker in message for marker in _NOT_FOUND):
            return ChatNotFound()
        return PermanentDeliveryError(f"bad_request: {exc.message}")
    if isinstance(exc, TimedOut):
        return TransientDeliveryError("network: timed out")
    if isinstance(exc, NetworkError):
        return TransientDeliveryError(f"network: {exc.message}")
    return exc


def keyboard_from_json(buttons_json: str) -> InlineKeyboardMarkup | None:
    """Buttons stored with a broadcast: a list of rows of {"text", "url"|"callback_data"|"switch_inline_query"}, or a
    flat list (one button per row). Empty means no keyboard."""
    if not buttons_json or not buttons_json.strip():
        return None
    try:
        data = json.loads(buttons_json)
        rows = [row if isinstance(row, list) else [row] for row in data]
        keyboard = [[_button(b) for b in row] for row in rows]
    except (ValueError, TypeError, KeyError) as exc:
        raise PermanentDeliveryError(f"bad_buttons: {exc}") from None
    return InlineKeyboardMarkup(keyboard) if keyboard else None


def _button(spec: dict) -> InlineKeyboardButton:
    if "url" in spec:
        return InlineKeyboardButton(text=str(spec["text"]), url=str(spec["url"]))
    if "switch_inline_query" in spec:  # a post's Share button: "@bot <post id>" in a chat the person picks
        return InlineKeyboardButton(text=str(spec["text"]), switch_inline_query=str(spec["switch_inline_query"]))
    return InlineKeyboardButton(text=str(spec["text"]), callback_data=str(spec["callback_data"]))


def telegram_sender(bot: Any, *, disable_preview: bool = True) -> SendFn:
    """A send function for bot.broadcast.Broadcaster that speaks only bot.delivery errors."""
    preview = LinkPreviewOptions(is_disabled=disable_preview)

    async def send(chat_id: int, text_html: str, buttons_json: str) -> None:
        markup = keyboard_from_json(buttons_json)
        try:
            await bot.send_message(
                chat_id,
                text_html,
                parse_mode="HTML",
                reply_markup=markup,
                link_preview_options=preview,
            )
        except Exception as exc:
            translated = translate_error(exc)
            if translated is exc:
                raise
            raise translated from exc

    return send


__all__ = ["keyboard_from_json", "retry_after_seconds", "telegram_sender", "translate_error"]
