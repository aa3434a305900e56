"""Webhook mode: an aiohttp server that answers Telegram only after the update was handled.

Requests must carry the secret token Telegram was given in setWebhook
(X-Telegram-Bot-Api-Secret-Token); anything else gets 403 and is not processed. Bodies are
capped, malformed JSON gets 400. Handling before answering means Telegram re-delivers an
update that a crash interrupted.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging

from aiohttp import web
from telegram import Update
from telegram.ext import Application

log = logging.getLogger("bot.webhook")
MAX_BODY = 256 * 1024  # Telegram updates are a few KB
WEBHOOK_PATH = "/telegram"


def make_webhook_app(app: Application, secret: str) -> web.Application:
    if not secret:
        raise ValueError("BOT_WEBHOOK_SECRET is required in webhook mode")
    lock = asyncio.Lock()  # one update at a time, in order, like the polling loop

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        # Header bytes that are not UTF-8 arrive as surrogates: they can only be a wrong secret.
        if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), secret.encode()):
            return web.Response(status=403, text="forbidden")
        if request.content_length is not None and request.content_length > MAX_BODY:
            return web.Response(status=413, text="too large")
        try:
            body = await request.read()  # the whole body, capped by client_max_size (413 beyond it)
        except web.HTTPRequestEntityTooLarge:
            return web.Response(status=413, text="too large")
        try:
            data = json.loads(body)
            if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                raise ValueError("not an update")
            update = Update.de_json(data, app.bot)
        except Exception:  # anything that is not a well-formed update is refused, never half-handled
            return web.Response(status=400, text="bad update")
        if update is None:
            return web.Response(status=400, text="bad update")
        async with lock:
            await app.process_update(update)
        return web.Response(text="ok")

    web_app = web.Application(client_max_size=MAX_BODY)
    web_app.router.add_post(WEBHOOK_PATH, receive)
    return web_app


async def serve_webhook(app: Application, settings, services, stop: asyncio.Event) -> None:
    web_app = make_webhook_app(app, settings.webhook_secret)
    runner = web.AppRunner(web_app)
    await runner.setup()
    site = web.TCPSite(runner, settings.webhook_listen, settings.webhook_port)
    await site.start()
    if settings.webhook_url:
        await app.bot.set_webhook(settings.webhook_url.rstrip("/") + WEBHOOK_PATH, secret_token=settings.webhook_secret,
                                  allowed_updates=Update.ALL_TYPES)
    log.info("webhook listening on %s:%d%s", settings.webhook_listen, settings.webhook_port, WEBHOOK_PATH)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
