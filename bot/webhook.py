"""Webhook mode: an aiohttp server that answers Telegram only after the update was handled.

Requests must carry the secret token Telegram was given in setWebhook
(X-Telegram-Bot-Api-Secret-Token); anything else gets 403 and is not processed. Bodies are
capped; a body that is not an update at all (malformed JSON, no integer update_id) gets 400.
An update the library cannot read is skipped with its reason recorded (bot/intake.py) and
answered 200, so Telegram does not re-deliver it forever. Handling before answering means
Telegram re-delivers an update that a crash interrupted; an update id already handled (a
re-delivery, a replay) is answered 200 and not handled twice (ids are kept in the operational
store, keyed by the bot's id, for two days: opstore.HANDLED_KEEP).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from bot.health import is_storage_error

log = logging.getLogger("bot.webhook")
MAX_BODY = 256 * 1024  # Telegram updates are a few KB
WEBHOOK_PATH = "/telegram"


def make_webhook_app(app: Application, secret: str, intake) -> web.Application:
    if not secret:
        raise ValueError("BOT_WEBHOOK_SECRET is required in webhook mode")
    ops, health = intake.services.ops, intake.services.health
    in_hand: dict[int, asyncio.Future] = {}  # update id -> done when handled (a replay waits for it)

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
        except ValueError:
            return web.Response(status=400, text="bad update")
        if not isinstance(data, dict) or type(data.get("update_id")) is not int or len(data) < 2:
            return web.Response(status=400, text="bad update")  # not an update at all: nothing to confirm
        update_id = data["update_id"]
        if update_id in in_hand:  # the same update again while it is being handled: wait for that
            await asyncio.shield(in_hand[update_id])
            return web.Response(text="ok")
        try:
            if ops.was_handled(app.bot.id, update_id):
                log.info("update %s delivered again; already handled", update_id)
                return web.Response(text="ok")
        except Exception as exc:
            if not is_storage_error(exc):
                raise
        in_hand[update_id] = asyncio.get_running_loop().create_future()
        try:
            await (await intake.submit(data))
            try:
                ops.mark_handled(app.bot.id, update_id)
                health.ok("state")
            except Exception as exc:
                if not is_storage_error(exc):
                    raise
                health.failed("state", exc, doing="recording a handled webhook update")
        finally:
            in_hand.pop(update_id).set_result(None)
        return web.Response(text="ok")

    web_app = web.Application(client_max_size=MAX_BODY)
    web_app.router.add_post(WEBHOOK_PATH, receive)
    return web_app


async def serve_webhook(app: Application, settings, intake, stop: asyncio.Event) -> None:
    web_app = make_webhook_app(app, settings.webhook_secret, intake)
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
        await intake.flush_all()
        await runner.cleanup()
