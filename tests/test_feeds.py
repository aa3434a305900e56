"""The scheduled refresh of BOT_FEED_URLS: failures with backoff and recovery, a store that never shrinks,
what /feeds, /stats and doctor show, announcements (preview to staff, or automatic) through the real
PTB Application, and the JobQueue job itself. Sources are served by a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.config import ConfigError, load_settings
from bot.doctor import run_doctor
from bot.feeds import FeedRefresher, backoff_s, stats_lines, status_text
from bot.flood import FloodGate
from bot.opstore import SQLiteOperationalStore
from bot.store import PostStore
from handlers import broadcast_jobs
from handlers import feeds as feed_handlers
from tests.conftest import STAFF_ID
from tests.feedserver import FeedServer, Route, item, rss

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
INTERVAL = 600.0
HTML = "<!DOCTYPE html><html><body><h1>Maintenance</h1><p>Back soon.</p></body></html>"


@pytest.fixture
def server():
    srv = FeedServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def feed_settings(settings, server):
    return replace(settings, feed_urls=(server.url("/feed"),), feed_interval_s=INTERVAL, feed_timeout_s=1.0)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def snapshot(store: PostStore) -> tuple[int, int, bytes]:
    return len(store.posts()), store.version, store.path.read_bytes()


async def test_a_source_that_fails_three_times_then_recovers(feed_settings, server, tmp_path):
    answers = [Route(status=503, body="busy", content_type="text/plain"),
               Route(body=bytes(range(256)) * 4, content_type="application/rss+xml"),  # garbage
               Route(hang=True),  # never answers: BOT_FEED_TIMEOUT (1 s here)
               Route(rss([item(n) for n in range(1, 4)]))]
    server.routes["/feed"] = lambda: answers[min(server.hits("/feed"), len(answers)) - 1]
    store = PostStore(feed_settings.db_path)
    ops = SQLiteOperationalStore(feed_settings.operational_path)
    clock = Clock(T0)
    refresher = FeedRefresher(store, ops, feed_settings, clock=clock)
    url = feed_settings.feed_urls[0]
    expected_errors = ["HTTP 503", "cannot tell the format", "timed out"]
    for n, expected in enumerate(expected_errors, start=1):
        before = snapshot(store)
        [run] = await refresher.refresh()
        assert run.status == "failed" and expected in run.error, run
        assert snapshot(store) == before  # a failed run writes nothing: not smaller, not touched
        state = ops.feed_source(url)
        assert state.failures == n and expected in state.last_error and state.last_success_at is None
        wait = timedelta(seconds=backoff_s(n, INTERVAL))
        assert datetime.fromisoformat(state.next_attempt_at) == clock.now + wait
        hits = server.hits("/feed")
        clock.now += wait / 2  # the job runs again before the backoff is over: the source is left alone
        [waiting] = await refresher.refresh()
        assert waiting.status == "waiting" and server.hits("/feed") == hits
        clock.now += wait / 2
    assert [backoff_s(n, INTERVAL) for n in (1, 2, 3)] == [600, 1200, 2400]
    # staff see it: /stats, /feeds and doctor name the source, its last error and the failures
    assert any("timed out" in line for line in stats_lines(ops, feed_settings))
    assert "3 failure(s) in a row" in status_text(ops, feed_settings)
    out = io.StringIO()
    ops_path = feed_settings.operational_path
    assert ops_path.exists()
    run_doctor(replace(feed_settings, token=""), out=out)  # no Telegram check: the store and the sources
    assert any(line.startswith("problem: news source") and "3 failed run(s)" in line
               for line in out.getvalue().splitlines()), out.getvalue()
    before = len(store.posts())
    [run] = await refresher.refresh()
    assert run.status == "ok" and len(run.added_ids) == 3
    assert len(store.posts()) == before + 3
    state = ops.feed_source(url)
    assert state.failures == 0 and state.next_attempt_at is None and state.format == "rss"
    assert state.last_success_at == clock.now.isoformat(timespec="seconds")
    assert "timed out" in state.last_error  # the last error stays on record, with its time
    out = io.StringIO()
    run_doctor(replace(feed_settings, token=""), out=out)  # no Telegram check: the store and the sources
    assert any(line.startswith("ok: news source") and "last success" in line for line in out.getvalue().splitlines())
    ops.close()
    store.close()


async def test_a_feed_that_turns_into_an_html_page_is_refused_and_the_store_kept(feed_settings, server):
    server.routes["/feed"] = Route(rss([item(n) for n in range(1, 6)]), etag='"v1"')
    store = PostStore(feed_settings.db_path)
    ops = SQLiteOperationalStore(feed_settings.operational_path)
    refresher = FeedRefresher(store, ops, feed_settings, clock=Clock(T0))
    [run] = await refresher.refresh()
    assert run.status == "ok" and len(run.added_ids) == 5
    [again] = await refresher.refresh(force=True)  # the server honours the ETag: 304, nothing parsed
    assert again.status == "not_modified"
    server.routes["/feed"] = Route(HTML, content_type="text/html")
    before = snapshot(store)
    [run] = await refresher.refresh(force=True)
    assert run.status == "failed" and "an HTML page where an RSS or Atom feed was expected" in run.error
    assert snapshot(store) == before
    server.routes["/feed"] = Route(rss([]))  # an empty feed: nothing to add, nothing removed
    [run] = await refresher.refresh(force=True)
    assert run.status == "ok" and len(store.posts()) == before[0]
    ops.close()
    store.close()


def test_feed_settings_are_validated():
    s = load_settings({"BOT_FEED_URLS": "https://www.moi.gov.tw/rss, https://example.org/a.xml",
                       "BOT_FEED_INTERVAL": "30m", "BOT_FEED_ANNOUNCE": "preview,auto"})
    assert s.feed_interval_s == 1800 and s.feed_announce_for("https://example.org/a.xml") == "auto"
    for env, name in [({"BOT_FEED_URLS": "ftp://x"}, "BOT_FEED_URLS"),
                      ({"BOT_FEED_INTERVAL": "often"}, "BOT_FEED_INTERVAL"),
                      ({"BOT_FEED_ANNOUNCE": "loud"}, "BOT_FEED_ANNOUNCE"),
                      ({"BOT_FEED_URLS": "https://a/x", "BOT_FEED_ANNOUNCE": "off,auto"}, "BOT_FEED_ANNOUNCE")]:
        with pytest.raises(ConfigError, match=name):
            load_settings(env)


# -- announcing new posts through the bot ----------------------------------------------------------

def today_item(n: int) -> dict:
    return item(n, day=datetime.now(UTC) - timedelta(minutes=n),
                title=f"Taiwan and a partner country sign an immigration memorandum, number {n}")


def sent_to(app, chat: int) -> list[dict]:
    return [m for m in app.request_log.sent() if int(m["chat_id"]) == chat]


def button(message: dict, prefix: str) -> str:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return next(b["callback_data"] for row in rows for b in row if b.get("callback_data", "").startswith(prefix))


@pytest.fixture
def feed_app(bot_app, services, feed_settings):
    services.settings = feed_settings
    bot_app.bot_data["flood"] = FloodGate(per_minute=6000, burst=500)
    return bot_app


async def test_new_posts_are_previewed_to_staff_and_announced_on_confirm(feed_app, services, server):
    app = feed_app
    services.ops.set_feed_announce(services.settings.feed_urls[0], "preview")  # as /feed_announce 1 preview
    citizen = 5150
    services.ops.subscribe(citizen)
    server.routes["/feed"] = Route(rss([today_item(1)]))
    [first] = await feed_handlers.run_and_announce(app)
    assert len(first.added_ids) == 1 and first.to_announce == []  # a source's first run is its archive
    assert sent_to(app, STAFF_ID) == []
    server.routes["/feed"] = Route(rss([today_item(2), today_item(1)]))
    [run] = await feed_handlers.run_and_announce(app, force=True)
    assert run.to_announce == run.added_ids and len(run.added_ids) == 1
    new_id = run.added_ids[0]
    previews = sent_to(app, STAFF_ID)
    assert "Announce it to" in previews[0]["text"] and "number 2" in previews[1]["text"]
    assert sent_to(app, citizen) == []  # nothing goes out before staff confirm
    await app.process_update(app.updates.press(button(previews[-1], "st:fdok:"), user_id=STAFF_ID))
    await asyncio.wait_for(asyncio.gather(*broadcast_jobs.running_tasks(app)), 20)
    [delivered] = sent_to(app, citizen)
    assert "number 2" in delivered["text"]
    [broadcast] = services.ops.recent_broadcasts(1)
    assert broadcast.post_id == new_id and broadcast.staff_id == STAFF_ID and broadcast.state == "done"
    await app.process_update(app.updates.press(button(previews[-1], "st:fdok:"), user_id=STAFF_ID))
    assert "already announced" in app.request_log.sent()[-1]["text"]  # a second press sends nothing again
    assert len(sent_to(app, citizen)) == 1
    await app.process_update(app.updates.press(button(previews[-1], "st:fdok:"), user_id=citizen))
    assert len(services.ops.recent_broadcasts(10)) == 1  # and a citizen pressing a forwarded copy does nothing


async def test_auto_mode_announces_at_once_and_tells_staff(feed_app, services, server):
    app = feed_app
    services.settings = replace(services.settings, feed_announce=("auto",))
    services.ops.subscribe(6160)
    server.routes["/feed"] = Route(rss([today_item(1)]))
    await feed_handlers.run_and_announce(app)
    server.routes["/feed"] = Route(rss([today_item(n) for n in range(1, 7)]))
    [run] = await feed_handlers.run_and_announce(app, force=True)
    assert len(run.added_ids) == 5 and len(run.to_announce) == 3  # at most 3 a run (data/importing.json)
    await asyncio.wait_for(asyncio.gather(*broadcast_jobs.running_tasks(app)), 20)
    assert len(sent_to(app, 6160)) == 3
    assert sum("announced automatically" in m["text"] for m in sent_to(app, STAFF_ID)) == 3


async def test_staff_commands_feeds_feed_announce_and_stats(feed_app, services, server):
    app = feed_app
    server.routes["/feed"] = Route(status=500, body="oops", content_type="text/plain")
    await app.process_update(app.updates.text("/feed_refresh", user_id=STAFF_ID))
    assert "failed: HTTP 500" in app.request_log.sent()[-1]["text"]
    await app.process_update(app.updates.text("/feed_announce 1 auto", user_id=STAFF_ID))
    assert "automatically" in app.request_log.sent()[-1]["text"]
    assert services.ops.feed_source(services.settings.feed_urls[0]).announce == "auto"
    await app.process_update(app.updates.text("/feeds", user_id=STAFF_ID))
    text = app.request_log.sent()[-1]["text"]
    assert "Last success: never" in text and "HTTP 500" in text and "1 failure(s) in a row" in text
    await app.process_update(app.updates.text("/stats", user_id=STAFF_ID))
    assert "News sources" in app.request_log.sent()[-1]["text"]
    await app.process_update(app.updates.text("/feeds", user_id=4343))  # not staff
    assert "HTTP 500" not in app.request_log.sent()[-1]["text"]


async def test_the_job_queue_reads_the_sources_every_interval(feed_app, services, server):
    app = feed_app
    services.settings = replace(services.settings, feed_interval_s=1.0)
    server.routes["/feed"] = Route(rss([item(1)]))
    await app.start()
    try:
        feed_handlers.start(app)
        for _ in range(100):  # at most 10 s
            if server.hits("/feed") >= 2:
                break
            await asyncio.sleep(0.1)
        assert server.hits("/feed") >= 2  # the first run and at least one more, a second later
        state = services.ops.feed_source(services.settings.feed_urls[0])
        assert state.last_success_at and state.imported_total == 1
    finally:
        await app.stop()


# -- the bot as its own process ---------------------------------------------------------------------

async def test_the_bot_process_reads_its_feed_and_answers_with_date_and_source_link(server, tmp_path):
    from tests.emulator import BotAPIEmulator
    from tests.test_e2e import TOKEN, start_bot, stop_bot

    news = item(1, day=datetime(2026, 11, 20, 3, 0, tzinfo=UTC),
                title="Taiwan and Atlantis sign a memorandum on lighthouse keepers",
                link="https://www.moi.gov.tw/english/news_detail.aspx?sn=9999",
                body="<p>The two governments will train lighthouse keepers together and share weather reports.</p>")
    server.routes["/feed"] = Route(rss([news]))
    async with BotAPIEmulator(tokens=[TOKEN]) as emu:
        proc = await start_bot(emu, tmp_path, BOT_FEED_URLS=server.url("/feed"), BOT_FEED_INTERVAL="1s")
        try:
            store = tmp_path / "store.json"
            for _ in range(150):  # the first run comes a second after start-up
                if "Atlantis" in store.read_text(encoding="utf-8"):
                    break
                await asyncio.sleep(0.1)
            await emu.send_text(7001, "atlantis lighthouse keepers memorandum")
            [reply] = await emu.wait_for_messages(7001, 1, timeout=30)
        finally:
            code, log = await stop_bot(proc)
    assert code == 0, log
    assert "lighthouse keepers" in reply["text"] and "2026-11-20" in reply["text"]  # the post's date
    links = [b.get("url") for row in reply["reply_markup"]["inline_keyboard"] for b in row]
    assert news["link"] in links  # Read more: the page the post came from
    assert "feed" in log and "1 new" in log
