"""Log scan: the bot token (and the webhook secret) never appear in anything the bot process writes.

The bot runs as its own process against the loopback emulator at DEBUG level, and is made to fail
inside handlers (a blocked chat, a 429 flood beyond the rate limiter's retries, a send that times
out), plus a forged button: each failure is logged with its traceback. Then every byte of its stdout and
stderr is searched for the token and for its secret half. RedactingFilter and the httpx log level
are unit-tested too.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import shutil
import signal
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest

from bot.config import BUNDLED_STORE
from bot.logs import REDACTED, RedactingFilter, redact, setup_logging
from tests.emulator import BotAPIEmulator

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "5550001111:AAH_logScanSecretHalf-0123456789xyz"
SECRET_HALF = TOKEN.split(":", 1)[1]
WEBHOOK_SECRET = "hook_secret-for-the-log-scan-42"


def leaks(text: str) -> list[str]:
    return [s for s in (TOKEN, SECRET_HALF, WEBHOOK_SECRET) if s in text]


async def start_bot(emu: BotAPIEmulator, tmp_path: Path, *args: str, **env_extra: str) -> asyncio.subprocess.Process:
    store = tmp_path / "store.json"
    if not store.exists():
        shutil.copy(BUNDLED_STORE, store)
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": emu.base_url,
           "BOT_DB_PATH": str(store), "BOT_STAFF_IDS": "", "BOT_LOG_LEVEL": "DEBUG", **env_extra}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def stop_bot(proc: asyncio.subprocess.Process) -> tuple[int | None, str]:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
    return proc.returncode, out.decode(errors="replace") + err.decode(errors="replace")


def _sends_to(emu: BotAPIEmulator, chat_id: int) -> int:
    return sum(1 for p in emu.calls_of("sendMessage") if p.get("chat_id") == chat_id)


async def test_the_token_appears_nowhere_in_the_bot_process_output_even_when_handlers_fail(tmp_path):
    async with BotAPIEmulator(tokens=[TOKEN]) as emu:
        proc = await start_bot(emu, tmp_path)
        try:
            await emu.send_text(7001, "/start")
            await emu.wait_for_messages(7001, 1, timeout=30)
            await emu.send_text(7001, "taiwan indonesia immigration meeting jakarta")
            await emu.wait_for_messages(7001, 2, timeout=10)

            # 403 inside the handler, and again inside the error handler.
            emu.blocked_chats.add(7002)
            await emu.send_text(7002, "passport renewal")
            await emu.wait_for(lambda: _sends_to(emu, 7002) >= 2, 10, "two refused sends to a blocked chat")

            # 429 more often than AIORateLimiter retries: RetryAfter escapes the handler.
            emu.flood(retry_after=1, times=3)
            await emu.send_text(7003, "hotline")
            await emu.wait_for_messages(7003, 1, timeout=15)  # the error handler's apology

            # A send that outlasts PTB's read timeout: TimedOut escapes the handler.
            emu.delay_next("sendMessage", 8, deliver=False)
            await emu.send_text(7004, "workshops")
            await emu.wait_for_messages(7004, 1, timeout=20)

            # A forged button (data no button of ours carries) on a message of the bot.
            [sent] = emu.messages_to(7001)[:1]
            query = {"id": "987654321", "from": emu.make_user(7001), "chat_instance": "1", "data": "sub:forged",
                     "message": {"message_id": sent["message_id"], "date": int(time.time()),
                                 "chat": {"id": 7001, "type": "private", "first_name": "Test"},
                                 "from": {"id": emu.bot_id, "is_bot": True, "first_name": "MOI"}, "text": "x"}}
            [queued] = emu.queue_updates([{"callback_query": query}])
            await emu.wait_for(lambda: emu.confirmed_offset > queued["update_id"] or emu.pending_updates() == 0,
                               10, "the forged button handled")
            await emu.send_text(7001, "/help")  # and the bot still answers afterwards
            await emu.wait_for_messages(7001, 3, timeout=10)
        finally:
            code, output = await stop_bot(proc)
    assert code == 0, output[-3000:]
    assert "handler failed" in output and "Traceback" in output, "no handler failure was logged: nothing scanned"
    assert "Forbidden" in output and "RetryAfter" in output and "TimedOut" in output
    assert leaks(output) == [], [line for line in output.splitlines() if leaks(line)][:5]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_neither_token_nor_webhook_secret_appear_in_the_output_in_webhook_mode(tmp_path):
    port = _free_port()
    async with BotAPIEmulator(tokens=[TOKEN]) as emu:
        proc = await start_bot(emu, tmp_path, "run", "--webhook", BOT_WEBHOOK_SECRET=WEBHOOK_SECRET,
                               BOT_WEBHOOK_PORT=str(port), BOT_WEBHOOK_URL="https://bot.example.gov.tw/hook")
        try:
            await emu.wait_for(lambda: emu.webhook["url"], 30, "setWebhook")
            assert emu.webhook.get("secret_token") == WEBHOOK_SECRET
            update = emu.make_text_update(7101, "/start")
            update["update_id"] = 1
            url = f"http://127.0.0.1:{port}/telegram"
            async with httpx.AsyncClient() as client:
                forged = await client.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "nope"})
                assert forged.status_code == 403
                bad = await client.post(url, content=b"{", headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET})
                assert bad.status_code == 400
                ok = await client.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
                                       timeout=20)
                assert ok.status_code == 200
            assert len(emu.messages_to(7101)) == 1
        finally:
            code, output = await stop_bot(proc)
    assert code == 0, output[-3000:]
    assert leaks(output) == [], [line for line in output.splitlines() if leaks(line)][:5]


# ------------------------------------------------------------------------------------ unit tests

def _format(record: logging.LogRecord, secrets: tuple[str, ...] = (TOKEN,)) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    handler.handle(record)
    return stream.getvalue()


def _record(msg: str, args: tuple | dict = (), exc_info=None) -> logging.LogRecord:
    return logging.getLogger("bot.test").makeRecord("bot.test", logging.ERROR, __file__, 1, msg, args, exc_info)


def test_the_filter_redacts_the_token_in_the_message():
    out = _format(_record(f"POST https://api.telegram.org/bot{TOKEN}/sendMessage failed"))
    assert leaks(out) == [] and REDACTED in out and "sendMessage failed" in out


def test_the_filter_redacts_the_token_in_arguments():
    out = _format(_record("calling %s with %r", (f"/bot{TOKEN}/getMe", {"token": TOKEN})))
    assert leaks(out) == [] and out.count(REDACTED) == 2 and "getMe" in out


def test_the_filter_redacts_the_token_in_mapping_arguments():
    out = _format(_record("url=%(url)s", ({"url": f"https://api.telegram.org/bot{TOKEN}/getUpdates"},)))
    assert leaks(out) == [] and REDACTED in out


def test_the_filter_redacts_the_token_in_a_chained_traceback():
    def fail() -> None:
        token_in_a_local = TOKEN  # noqa: F841 - locals are not printed, but the messages are
        try:
            raise ConnectionError(f"cannot reach https://api.telegram.org/bot{TOKEN}/getMe")
        except ConnectionError as exc:
            raise RuntimeError(f"wrapped: {TOKEN}") from exc

    try:
        fail()
    except RuntimeError:
        out = _format(_record("handler failed", exc_info=sys.exc_info()))
    assert "Traceback" in out and "ConnectionError" in out and "RuntimeError" in out
    assert leaks(out) == [] and out.count(REDACTED) == 2


def test_the_filter_redacts_given_secrets_that_do_not_look_like_tokens():
    out = _format(_record("webhook secret is %s", (WEBHOOK_SECRET,)), secrets=(TOKEN, WEBHOOK_SECRET))
    assert leaks(out) == [] and REDACTED in out


def test_any_bot_token_shape_is_redacted_even_when_not_configured():
    other = "1234567:ZZZ_other-bot-token-abcdefghijkl"
    assert other not in redact(f"see {other}") and REDACTED in redact(f"see {other}")


def test_a_record_passed_through_twice_is_still_clean():
    record = _record("token %s", (TOKEN,))
    first = _format(record)
    second = _format(record)
    assert leaks(first + second) == [] and first == second


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    saved = (root.handlers[:], root.level,
             {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "apscheduler")})
    yield
    root.handlers[:], root.level = saved[0], saved[1]
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
async def test_httpx_request_lines_are_not_logged(restore_logging, capsys, level):
    async with BotAPIEmulator(tokens=[TOKEN]) as emu:
        setup_logging(level, secrets=(TOKEN,))
        assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{emu.base_url}{TOKEN}/getMe")
        assert response.status_code == 200 and json.loads(response.text)["ok"]
        logging.getLogger("bot").info("after the request")
    err = capsys.readouterr().err
    assert "after the request" in err  # the handler is live, so its silence about httpx means something
    assert "HTTP Request" not in err and "getMe" not in err
    assert leaks(err) == []
