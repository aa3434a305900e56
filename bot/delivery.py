"""What a send function may raise, in words the broadcaster understands, with no Telegram import.

The core (bot/) never imports `telegram`: the Telegram adapter in handlers/ translates
telegram.error.* into these, and tests raise them from a plain fake. Each error carries a short
`reason` that the store keeps per recipient and groups by its part before the first colon.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

# send(chat_id, text_html, buttons_json) -> None; raises a DeliveryError (or anything else).
SendFn = Callable[[int, str, str], Awaitable[None]]


class DeliveryError(Exception):
    """Base: a message could not be delivered to one recipient."""

    reason: str = "error"

    def __init__(self, reason: str | None = None) -> None:
        if reason:
            self.reason = reason
        super().__init__(self.reason)


class RecipientBlocked(DeliveryError):
    """The person blocked the bot or deleted their account (Forbidden): never message them again."""

    reason = "blocked"


class ChatNotFound(DeliveryError):
    """The chat id no longer exists for this bot: treated like a block."""

    reason = "chat_not_found"


class RetryLater(DeliveryError):
    """Telegram flood control (429): wait `seconds`, then the same message may be tried again."""

    reason = "retry_later"

    def __init__(self, seconds: float) -> None:
        self.seconds = max(0.0, float(seconds))
        super().__init__()

    def __str__(self) -> str:
        return f"retry later: {self.seconds:g}s"


class TransientDeliveryError(DeliveryError):
    """A timeout or network error: the same message may succeed on a later try."""

    reason = "network"


class PermanentDeliveryError(DeliveryError):
    """Telegram rejected this message for this chat (another 400): retrying will not help."""

    reason = "rejected"


__all__ = [
    "ChatNotFound",
    "DeliveryError",
    "PermanentDeliveryError",
    "RecipientBlocked",
    "RetryLater",
    "SendFn",
    "TransientDeliveryError",
]
