"""Staff handlers (allow-listed by BOT_STAFF_IDS). Filled in by the staff feature."""

from __future__ import annotations

from telegram.ext import Application, BaseHandler


def handlers() -> list[BaseHandler]:
    return []


async def resume_broadcasts(app: Application) -> None:
    return None
