"""Shared fixtures: a real TinyDB store in a tmp folder, the real services, a real PTB Application."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from telegram import Chat, Message, MessageEntity, Update, User
from telegram.request import BaseRequest, RequestData

from bot.config import BUNDLED_STORE, Settings
from bot.services import Services

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
STAFF_ID = 4242
BOT_ID = 123456789
BOT_USERNAME = "moi_helper_bot"


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    target = tmp_path / "store.json"
    shutil.copy(BUNDLED_STORE, target)
    return target


@pytest.fixture
def settings(store_path: Path) -> Settings:
    return Settings(token=TOKEN, db_path=store_path, staff_ids=frozenset({STAFF_ID}),
                    api_base_url="http://127.0.0.1:9/bot", rate_limit_per_minute=10_000)


@pytest.fixture
def services(settings: Settings):
    svc = Services.open(settings)
    yield svc
    svc.close()


class RecordingRequest(BaseRequest):
    """A fake Telegram transport: records every Bot API call and answers like Telegram would."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []
        self._message_id = 1000

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None, **kwargs):
        name = url.rsplit("/", 1)[-1]
        params = request_data.json_parameters if request_data else {}
        params = {k: _maybe_json(v) for k, v in params.items()}
        self.calls.append((name, params))
        return 200, json.dumps({"ok": True, "result": self._result(name, params)}).encode()

    def _result(self, name: str, params: dict):
        now = int(datetime.now(UTC).timestamp())
        if name == "getMe":
            return {"id": BOT_ID, "is_bot": True, "first_name": "MOI", "username": BOT_USERNAME,
                    "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}
        if name in ("sendMessage", "editMessageText"):
            self._message_id += 1
            chat_id = int(params.get("chat_id", 1))
            return {"message_id": int(params.get("message_id", self._message_id)), "date": now,
                    "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
                    "from": {"id": BOT_ID, "is_bot": True, "first_name": "MOI"}, "text": params.get("text", "")}
        return True

    def sent(self, method: str = "sendMessage") -> list[dict]:
        return [p for name, p in self.calls if name == method]


def _maybe_json(value):
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class UpdateFactory:
    """Builds real telegram.Update objects as Telegram would send them."""

    def __init__(self, bot) -> None:
        self.bot = bot
        self.update_id = 0
        self.message_id = 0

    def _user(self, user_id: int, lang: str) -> User:
        return User(user_id, "Test", is_bot=False, language_code=lang)

    def text(self, text: str, *, user_id: int = 1001, chat_id: int | None = None, chat_type: str = "private",
             lang: str = "en") -> Update:
        self.update_id += 1
        self.message_id += 1
        chat = Chat(chat_id if chat_id is not None else user_id, chat_type)
        entities = []
        if text.startswith("/"):
            entities.append(MessageEntity(MessageEntity.BOT_COMMAND, 0, len(text.split()[0])))
        msg = Message(self.message_id, datetime.now(UTC), chat, from_user=self._user(user_id, lang), text=text,
                      entities=entities)
        msg.set_bot(self.bot)
        update = Update(self.update_id, message=msg)
        update.set_bot(self.bot)
        return update

    def sticker(self, *, user_id: int = 1001) -> Update:
        from telegram import Sticker

        self.update_id += 1
        self.message_id += 1
        sticker = Sticker("f", "u", 512, 512, False, False, Sticker.REGULAR)
        msg = Message(self.message_id, datetime.now(UTC), Chat(user_id, "private"), from_user=self._user(user_id, "en"),
                      sticker=sticker)
        msg.set_bot(self.bot)
        update = Update(self.update_id, message=msg)
        update.set_bot(self.bot)
        return update

    def press(self, data: str, *, user_id: int = 1001, message_id: int = 1, lang: str = "en") -> Update:
        from telegram import CallbackQuery

        self.update_id += 1
        chat = Chat(user_id, "private")
        msg = Message(message_id, datetime.now(UTC), chat, from_user=User(BOT_ID, "MOI", True), text="…")
        msg.set_bot(self.bot)
        query = CallbackQuery(str(self.update_id), self._user(user_id, lang), chat_instance="ci", data=data,
                              message=msg)
        query.set_bot(self.bot)
        update = Update(self.update_id, callback_query=query)
        update.set_bot(self.bot)
        return update

    def inline(self, query: str, *, user_id: int = 1001, lang: str = "en", chat_type: str | None = "private") -> Update:
        """Someone typing "@bot <query>" in a chat (an inline query: no chat, no message)."""
        from telegram import InlineQuery

        self.update_id += 1
        inline = InlineQuery(str(self.update_id), self._user(user_id, lang), query, offset="", chat_type=chat_type)
        inline.set_bot(self.bot)
        update = Update(self.update_id, inline_query=inline)
        update.set_bot(self.bot)
        return update


@pytest.fixture
async def bot_app(settings: Settings, services: Services):
    """A real PTB Application with every handler, talking to a recording transport."""
    from bot.app import build_application

    request = RecordingRequest()
    app = build_application(settings, services, rate_limit=False, request=request,
                            updates_request=RecordingRequest())
    await app.initialize()
    services.assistant.bot_username = app.bot.username
    app.request_log = request
    app.updates = UpdateFactory(app.bot)
    yield app
    await app.shutdown()
