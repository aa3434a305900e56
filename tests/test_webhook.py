"""Webhook mode: forged requests are rejected and never processed; a genuine update is handled before the answer.

The aiohttp app from bot.webhook.make_webhook_app is served on 127.0.0.1 with the real PTB
Application of the bot_app fixture (all handlers, a recording transport instead of Telegram).
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from bot.intake import Intake
from bot.webhook import MAX_BODY, WEBHOOK_PATH, make_webhook_app
from tests.test_polling import poll_message

SECRET = "webhook-secret_0123456789abcdef"
HEADER = "X-Telegram-Bot-Api-Secret-Token"
TRANSPORT_DELAY_S = 0.2  # every Bot API call of the bot takes this long, so "answered before handled" shows


def update_json(text: str = "/start", *, update_id: int = 1, chat_id: int = 5150) -> dict:
    """A text-message update exactly as Telegram POSTs it to a webhook."""
    message = {"message_id": update_id, "date": int(time.time()),
               "chat": {"id": chat_id, "type": "private", "first_name": "Web"},
               "from": {"id": chat_id, "is_bot": False, "first_name": "Web", "language_code": "en"}, "text": text}
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"update_id": update_id, "message": message}


@pytest.fixture
async def webhook(bot_app):
    """(base URL of the webhook, the recording transport): the app served on a free loopback port."""
    transport = bot_app.request_log
    record = transport.do_request

    async def slow_request(*args, **kwargs):
        await asyncio.sleep(TRANSPORT_DELAY_S)
        return await record(*args, **kwargs)

    transport.do_request = slow_request
    server = TestServer(make_webhook_app(bot_app, SECRET, Intake(bot_app, bot_app.bot_data["services"])),
                        host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url(WEBHOOK_PATH)), transport
    finally:
        await server.close()


async def _post(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, str]:
    async with ClientSession() as session:
        async with session.post(url, data=body, headers={"Content-Type": "application/json", **(headers or {})}) as r:
            return r.status, await r.text()


async def _nothing_processed(transport) -> None:
    await asyncio.sleep(TRANSPORT_DELAY_S * 2)  # give any background handling time to show up
    assert transport.sent() == [], transport.calls


def test_a_webhook_without_a_secret_is_refused():
    with pytest.raises(ValueError):
        make_webhook_app(object(), "", object())  # type: ignore[arg-type]


@pytest.mark.parametrize("headers", [{}, {HEADER: ""}, {HEADER: "wrong-secret_0123456789abcdef"},
                                     {HEADER: SECRET[:-1]}, {HEADER: SECRET + "x"}, {HEADER: SECRET.upper()},
                                     {"X-Telegram-Bot-Api-Secret": SECRET}])
async def test_a_request_without_the_right_secret_gets_403_and_is_not_processed(webhook, headers):
    url, transport = webhook
    status, _ = await _post(url, json.dumps(update_json()).encode(), headers)
    assert status == 403
    await _nothing_processed(transport)


async def _raw_post_with_non_ascii_secret(url: str) -> str:
    host, port = url.split("//")[1].split("/")[0].split(":")
    body = json.dumps(update_json()).encode()
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"POST " + WEBHOOK_PATH.encode() + b" HTTP/1.1\r\nHost: x\r\n" + HEADER.encode() +
                 b": \xff\xfe\xe9\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                 % len(body) + body)
    await writer.drain()
    status_line = (await reader.readline()).decode()
    writer.close()
    return status_line.split()[1]


async def test_a_secret_header_with_non_ascii_bytes_is_refused_and_not_processed(webhook):
    url, transport = webhook
    assert await _raw_post_with_non_ascii_secret(url) != "200"
    await _nothing_processed(transport)


async def test_a_secret_header_with_non_ascii_bytes_gets_403(webhook):
    url, _ = webhook
    assert await _raw_post_with_non_ascii_secret(url) == "403"


@pytest.mark.parametrize("body", [b"{", b'{"update_id": 1, "message": {', b"not json", b"\xff\xfe\x00",
                                  b"", b"{}",
                                  # JSON, but not an update
                                  b"[]", b"null", b'"update"', b"123", b'{"update_id": "1"}', b'{"update_id": 1}',
                                  b'{"update_id": true, "message": {}}'])
async def test_malformed_json_with_the_right_secret_gets_400_and_is_not_processed(webhook, body):
    url, transport = webhook
    status, _ = await _post(url, body, {HEADER: SECRET})
    assert status == 400
    await _nothing_processed(transport)


@pytest.mark.parametrize("body", [b'{"update_id": 1, "message": {"x": 1}}', b'{"update_id": 1, "message": "x"}',
                                  b'{"update_id": 1, "callback_query": []}',
                                  json.dumps({"update_id": 1, **poll_message(5160)}).encode()])
async def test_an_update_the_library_cannot_read_is_skipped_recorded_and_confirmed(webhook, bot_app, body):
    # 200, not 400: a 4xx makes Telegram deliver the same update again and again.
    url, transport = webhook
    status, _ = await _post(url, body, {HEADER: SECRET})
    assert status == 200
    await _nothing_processed(transport)
    [(_, update_id, kind, reason, _)] = bot_app.bot_data["services"].ops.skipped_updates()
    assert update_id == 1 and reason.startswith("unreadable: ") and kind in ("message", "callback_query")
    status, text = await _post(url, json.dumps(update_json("/start", update_id=2)).encode(), {HEADER: SECRET})
    assert status == 200 and len(transport.sent()) == 1  # and the next update is answered


async def test_a_replayed_update_id_is_answered_once(webhook):
    url, transport = webhook
    body = json.dumps(update_json("/start", update_id=77, chat_id=5170)).encode()
    first, again = await asyncio.gather(_post(url, body, {HEADER: SECRET}), _post(url, body, {HEADER: SECRET}))
    later = await _post(url, body, {HEADER: SECRET})
    assert [first[0], again[0], later[0]] == [200, 200, 200]
    assert len(transport.sent()) == 1


@pytest.mark.parametrize("size", [MAX_BODY + 1, 1024 * 1024])
async def test_an_oversized_body_gets_413_and_is_not_processed(webhook, size):
    url, transport = webhook
    padded = json.dumps(update_json("/start"))[:-1] + ', "pad": "' + "x" * size + '"}'
    status, _ = await _post(url, padded.encode(), {HEADER: SECRET})
    assert status in (413, 400)
    await _nothing_processed(transport)


async def test_an_oversized_chunked_body_without_content_length_gets_413(webhook):
    url, transport = webhook

    async def chunks():
        for _ in range(16):
            yield b"x" * (64 * 1024)  # 1 MB in all, no Content-Length header

    async with ClientSession() as session:
        async with session.post(url, data=chunks(), headers={HEADER: SECRET}) as r:
            assert r.status in (413, 400)
    await _nothing_processed(transport)


async def test_an_oversized_body_without_the_secret_gets_403(webhook):
    url, transport = webhook
    status, _ = await _post(url, b"x" * (1024 * 1024))
    assert status == 403
    await _nothing_processed(transport)


async def test_a_valid_update_is_handled_before_the_http_answer(webhook):
    url, transport = webhook
    start = time.perf_counter()
    status, text = await _post(url, json.dumps(update_json("/start", chat_id=5150)).encode(), {HEADER: SECRET})
    elapsed = time.perf_counter() - start
    assert status == 200, text
    sent = transport.sent()  # read the moment the answer arrived: the reply must already be there
    assert len(sent) == 1 and int(sent[0]["chat_id"]) == 5150
    assert "Ministry of the Interior" in sent[0]["text"]
    assert elapsed >= TRANSPORT_DELAY_S  # the answer waited for the (slowed) sendMessage


async def test_updates_are_handled_one_at_a_time_in_order(webhook):
    url, transport = webhook
    bodies = [json.dumps(update_json(f"passport question {n}", update_id=10 + n, chat_id=6000 + n)).encode()
              for n in range(4)]
    results = await asyncio.gather(*(_post(url, b, {HEADER: SECRET}) for b in bodies))
    assert [status for status, _ in results] == [200] * 4
    assert sorted(int(p["chat_id"]) for p in transport.sent()) == [6000, 6001, 6002, 6003]


async def test_a_question_is_answered_through_the_webhook(webhook):
    url, transport = webhook
    body = json.dumps(update_json("taiwan indonesia immigration meeting jakarta", update_id=2, chat_id=5151))
    status, _ = await _post(url, body.encode(), {HEADER: SECRET})
    assert status == 200
    [reply] = transport.sent()
    assert reply["parse_mode"] == "HTML" and "Indonesia" in reply["text"]


async def test_a_valid_update_arriving_in_two_segments_is_handled(webhook):
    url, transport = webhook
    host, port = url.split("//")[1].split("/")[0].split(":")
    body = json.dumps(update_json("/start", update_id=3, chat_id=5152)).encode()
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"POST " + WEBHOOK_PATH.encode() + b" HTTP/1.1\r\nHost: x\r\n" + HEADER.encode() + b": " +
                 SECRET.encode() + b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                 b"Connection: close\r\n\r\n" % len(body) + body[:40])
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.write(body[40:])
    await writer.drain()
    status_line = (await asyncio.wait_for(reader.readline(), 10)).decode()
    writer.close()
    assert status_line.split()[1] == "200", status_line
    assert len(transport.sent()) == 1
