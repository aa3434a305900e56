"""`python -m bot doctor` (bot.doctor.run_doctor): one ok/problem line per check, exit 0 only when all are ok.

The Telegram part runs against the loopback emulator; run_doctor is synchronous (it calls
asyncio.run), so the tests call it in a thread while the emulator serves in the test's loop.
"""

from __future__ import annotations

import asyncio
import io
import shutil
from dataclasses import replace

import pytest

from bot.config import DATA_DIR, Settings
from bot.doctor import run_doctor
from bot.lock import InstanceLock
from tests.conftest import BOT_ID, BOT_USERNAME, TOKEN
from tests.emulator import BotAPIEmulator

SECRET_HALF = TOKEN.split(":", 1)[1]


def doctor(settings: Settings) -> tuple[int, list[str]]:
    out = io.StringIO()
    code = run_doctor(settings, out=out)
    text = out.getvalue()
    assert TOKEN not in text and SECRET_HALF not in text
    lines = text.splitlines()
    assert lines and all(line.startswith(("ok: ", "problem: ")) for line in lines), text
    assert all(" fix: " in line for line in lines if line.startswith("problem: ")), text
    return code, lines


def problems(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("problem: ")]


@pytest.fixture
def offline(settings: Settings) -> Settings:
    return replace(settings, token="")


def test_a_healthy_installation_is_all_ok_without_a_token(offline):
    code, lines = doctor(offline)
    assert code == 0 and problems(lines) == [], lines
    text = "\n".join(lines)
    assert "131 posts" in text and "15 contacts" in text
    assert "instance lock: free" in text
    assert "safety lexicon loads" in text and "message catalogues load" in text
    assert "no TELEGRAM_BOT_TOKEN" in text


def test_the_doctor_creates_nothing(offline):
    before = sorted(p.name for p in offline.db_path.parent.iterdir())
    doctor(offline)
    assert sorted(p.name for p in offline.db_path.parent.iterdir()) == before


def test_a_corrupt_store_is_a_problem_with_a_fix(offline):
    offline.db_path.write_text('{"posts": {"1": {"id": ', encoding="utf-8")
    code, lines = doctor(offline)
    assert code == 1
    [line] = [line for line in problems(lines) if "post store" in line]
    assert "not valid JSON" in line and "restore" in line


def test_a_missing_store_is_a_problem(offline, tmp_path):
    code, lines = doctor(replace(offline, db_path=tmp_path / "nowhere" / "store.json"))
    assert code == 1 and any("does not exist" in line and "BOT_DB_PATH" in line for line in problems(lines))


def test_a_store_with_an_invalid_record_is_a_problem(offline):
    import json

    data = json.loads(offline.db_path.read_text(encoding="utf-8"))
    first = next(iter(data["posts"]))
    data["posts"][first]["title"] = ""
    offline.db_path.write_text(json.dumps(data), encoding="utf-8")
    code, lines = doctor(offline)
    assert code == 1 and any("post store" in line for line in problems(lines)), lines


def test_a_damaged_operational_store_is_a_problem(offline):
    offline.operational_path.write_bytes(b"this is not a SQLite database" * 100)
    code, lines = doctor(offline)
    assert code == 1
    assert any("operational store" in line and "move" in line for line in problems(lines)), lines


def test_an_existing_operational_store_reports_its_state(offline, services):
    services.ops.set_last_update_id(BOT_ID, 4242)
    services.ops.subscribe(77)
    code, lines = doctor(offline)
    assert code == 0, lines
    [line] = [line for line in lines if line.startswith("ok: operational store")]
    assert "integrity ok" in line and "last handled update 4242" in line and "1 active" in line


def test_a_held_lock_names_the_process_holding_it(offline):
    import os

    with InstanceLock(offline.lock_path):
        code, lines = doctor(offline)
    [line] = [line for line in lines if "instance lock" in line]
    assert f"held by process {os.getpid()}" in line
    assert code == 0  # a running bot is not a fault; the line says a second one would refuse to start
    code, lines = doctor(offline)  # and the doctor neither took nor kept the lock
    assert "instance lock: free" in "\n".join(lines)
    with InstanceLock(offline.lock_path):
        pass


def test_a_broken_data_file_is_a_problem_naming_it(offline, tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(DATA_DIR, data)
    (data / "glossary.json").write_text("{not json", encoding="utf-8")
    monkeypatch.setattr("bot.doctor.DATA_DIR", data)
    code, lines = doctor(offline)
    assert code == 1
    [line] = problems(lines)
    assert "glossary" in line and "JSONDecodeError" in line


def test_a_webhook_url_without_a_secret_is_a_problem(offline):
    code, lines = doctor(replace(offline, webhook_url="https://bot.example.gov.tw/hook"))
    assert code == 1 and any("BOT_WEBHOOK_SECRET" in line for line in problems(lines))


# ---------------------------------------------------------------------------- Telegram, via the emulator

class WebhookErrorEmulator(BotAPIEmulator):
    """The emulator, with Telegram's record of a failed webhook delivery."""

    def _api_getwebhookinfo(self, params, token):
        info = super()._api_getwebhookinfo(params, token)
        if info["url"]:
            info.update(last_error_date=1_700_000_000, last_error_message="Connection timed out")
        return info


@pytest.fixture
async def emulator():
    async with BotAPIEmulator(tokens=[TOKEN]) as emu:
        yield emu


async def test_with_a_token_getme_and_polling_mode_are_reported(settings, emulator):
    for n in range(3):
        await emulator.send_text(900 + n, "hello")
    code, lines = await asyncio.to_thread(doctor, replace(settings, api_base_url=emulator.base_url))
    assert code == 0, lines
    text = "\n".join(lines)
    assert f"token accepted by {emulator.base_url}: @{BOT_USERNAME}" in text
    assert "polling mode (no webhook set), 3 pending update(s)" in text
    assert {name for name, _ in emulator.calls} == {"getMe", "getWebhookInfo"}  # looks, changes nothing
    assert emulator.pending_updates() == 3


async def test_a_token_telegram_rejects_is_a_problem_and_is_not_printed(settings, emulator):
    wrong = "999999999:AAWrongTokenWrongTokenWrongToken00"
    out = io.StringIO()
    code = await asyncio.to_thread(run_doctor, replace(settings, token=wrong, api_base_url=emulator.base_url),
                                   out=out)
    assert code == 1
    assert "rejected the token" in out.getvalue() and "@BotFather" in out.getvalue()
    assert wrong not in out.getvalue() and wrong.split(":")[1] not in out.getvalue()


async def test_an_unreachable_api_is_a_problem(settings, tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, lines = await asyncio.to_thread(doctor, replace(settings, api_base_url=f"http://127.0.0.1:{port}/bot"))
    assert code == 1 and any("cannot reach" in line for line in problems(lines)), lines


async def test_a_webhook_set_while_configured_to_poll_is_a_problem(settings, emulator):
    emulator.webhook = {"url": "https://bot.example.gov.tw/hook/telegram"}
    code, lines = await asyncio.to_thread(doctor, replace(settings, api_base_url=emulator.base_url))
    assert code == 1
    assert any("webhook mode: https://bot.example.gov.tw/hook/telegram" in line for line in lines)
    assert any("409 Conflict" in line and "--webhook" in line for line in problems(lines))


async def test_a_matching_webhook_is_ok(settings, emulator):
    emulator.webhook = {"url": "https://bot.example.gov.tw/hook/telegram"}
    configured = replace(settings, api_base_url=emulator.base_url, webhook_url="https://bot.example.gov.tw/hook",
                         webhook_secret="s3cret-s3cret-s3cret")
    code, lines = await asyncio.to_thread(doctor, configured)
    assert code == 0, lines
    assert not any("s3cret-s3cret-s3cret" in line for line in lines)


async def test_telegrams_last_webhook_error_is_reported(settings, tmp_path):
    async with WebhookErrorEmulator(tokens=[TOKEN]) as emu:
        emu.webhook = {"url": "https://bot.example.gov.tw/hook/telegram"}
        configured = replace(settings, api_base_url=emu.base_url, webhook_url="https://bot.example.gov.tw/hook",
                             webhook_secret="s3cret-s3cret-s3cret")
        code, lines = await asyncio.to_thread(doctor, configured)
    assert code == 1
    [line] = problems(lines)
    assert "2023-11-14 22:13 UTC" in line and "Connection timed out" in line


def test_the_cli_wiring_signature():
    import inspect

    params = inspect.signature(run_doctor).parameters
    assert list(params)[:1] == ["settings"] and params["out"].kind is inspect.Parameter.KEYWORD_ONLY
