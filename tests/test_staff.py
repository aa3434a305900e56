"""Staff features through the real PTB handler path (a real Application, real Updates, a recording
transport), the staff services in bot/announce.py with a fixed clock, and the terminal commands."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from datetime import datetime, timedelta

import pytest

from bot import announce
from bot.announce import ALL, Announcement, ScheduleError, StaffInputError
from bot.app import build_application
from bot.cli import cmd_announce, cmd_subscribers
from bot.config import Settings
from bot.flood import FloodGate
from bot.i18n import t
from bot.opstore import TAIPEI
from bot.services import Services
from handlers import broadcast_jobs
from tests.conftest import STAFF_ID, TOKEN, RecordingRequest

CITIZEN = 1001
STAFF_ONLY = t("en", "staff_only")


@pytest.fixture(autouse=True)
def roomy_flood_gate(request):
    """These tests send a whole conversation within milliseconds; the citizen flood gate (burst 8)
    would rightly drop most of it. Same gate class, a burst no human reaches."""
    if "bot_app" in request.fixturenames:
        request.getfixturevalue("bot_app").bot_data["flood"] = FloodGate(per_minute=6000, burst=500)


# -- helpers ---------------------------------------------------------------------------------


async def say(app, text: str, user: int = STAFF_ID) -> None:
    await app.process_update(app.updates.text(text, user_id=user))


async def press(app, data: str, user: int = STAFF_ID) -> None:
    await app.process_update(app.updates.press(data, user_id=user))


def sent(app, chat: int | None = None) -> list[dict]:
    return [m for m in app.request_log.sent() if chat is None or int(m["chat_id"]) == chat]


def last_text(app) -> str:
    return app.request_log.sent()[-1]["text"]


def buttons(message: dict) -> list[dict]:
    markup = message.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


def button_data(app, prefix: str) -> str:
    """callback_data of the newest button starting with prefix, in any message sent so far."""
    for message in reversed(app.request_log.sent()):
        for b in buttons(message):
            if b.get("callback_data", "").startswith(prefix):
                return b["callback_data"]
    raise AssertionError(f"no button {prefix!r} was sent")


def answers(app) -> list[dict]:
    return app.request_log.sent("answerCallbackQuery")


async def wait_broadcasts(app, timeout: float = 20) -> None:
    tasks = broadcast_jobs.running_tasks(app)
    if tasks:
        await asyncio.wait_for(asyncio.gather(*tasks), timeout)


def post_count(services: Services) -> int:
    return len(services.store.posts())


# -- the staff check -------------------------------------------------------------------------


async def test_non_staff_gets_staff_only_for_every_command_and_nothing_happens(bot_app, services, caplog):
    caplog.set_level(logging.INFO)
    posts_before = post_count(services)
    scheduled = announce.create(services.ops, STAFF_ID, "news", announce.from_text("Hi"),
                                services.now() + timedelta(days=1))
    for command in ["/post", "/announce", "/announce p055", "/broadcasts", f"/cancel_broadcast {scheduled}",
                    "/stats"]:
        before = len(sent(bot_app))
        await say(bot_app, command, user=CITIZEN)
        assert len(sent(bot_app)) == before + 1, command
        assert last_text(bot_app) == STAFF_ONLY, command
    # No conversation started: the next text is an ordinary question, not a post title.
    await say(bot_app, "My fake post title", user=CITIZEN)
    assert last_text(bot_app) != t("en", "staff_post_ask_body")

    assert post_count(services) == posts_before
    assert services.ops.broadcast(scheduled).state == "scheduled"
    assert [b.id for b in services.ops.recent_broadcasts()] == [scheduled]
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 6 and all(f"user {CITIZEN}" in m for m in refused)
    assert not any(TOKEN in r.getMessage() for r in caplog.records)


async def test_forged_or_replayed_staff_buttons_do_nothing_for_non_staff(bot_app, services):
    posts_before = post_count(services)
    scheduled = announce.create(services.ops, STAFF_ID, "news", announce.from_text("Hi"),
                                services.now() + timedelta(days=1))
    forged = ["st:post_ok:abcd1234", "st:post_no:abcd1234", "st:pcat:news", "st:announce:p055",
              "st:apost:p055", "st:atopic:all", "st:awhen:now", "st:ann_ok:abcd1234", "st:ann_no:abcd1234",
              f"st:bcancel:{scheduled}", f"st:bresume:{scheduled}", "st:whatever:x"]
    for data in forged:
        before_sent, before_answers = len(sent(bot_app)), len(answers(bot_app))
        await press(bot_app, data, user=CITIZEN)
        assert len(answers(bot_app)) == before_answers + 1, data
        assert answers(bot_app)[-1]["text"] == STAFF_ONLY and answers(bot_app)[-1]["show_alert"] in (True, "true")
        assert len(sent(bot_app)) == before_sent, data  # no message, no edit
    assert not bot_app.request_log.sent("editMessageText")
    assert post_count(services) == posts_before
    assert services.ops.broadcast(scheduled).state == "scheduled"


async def test_a_citizen_pressing_a_staff_button_while_staff_are_mid_conversation(bot_app, services):
    await say(bot_app, "/post")
    await say(bot_app, "A title")
    await say(bot_app, "A body")
    await press(bot_app, "st:pcat:news", user=CITIZEN)  # a forwarded copy of the category buttons
    assert answers(bot_app)[-1]["text"] == STAFF_ONLY
    await say(bot_app, "not a category")  # the staff member's conversation is still at the category step
    assert last_text(bot_app) == t("en", "staff_post_ask_category")


# -- /post -----------------------------------------------------------------------------------


async def _post_until_preview(app, title: str, body: str, link: str = "") -> None:
    await say(app, "/post")
    assert "step 1 of 5" in last_text(app)
    await say(app, title)
    await say(app, body)
    await press(app, "st:pcat:announcement")
    await say(app, link or "/skip")


async def test_post_conversation_preview_then_confirm_publishes_a_searchable_post(bot_app, services):
    before = post_count(services)
    await say(bot_app, "/post")
    await say(bot_app, "x" * 301)  # too long: asked again
    assert "301 characters" in last_text(bot_app) and "300" in last_text(bot_app)
    await say(bot_app, "Typhoon Kong-rey: household registration offices closed on Thursday")
    await say(bot_app, "Because of Typhoon Kong-rey, all household registration offices in Taipei are closed on "
                       "Thursday. Appointments move to the next working day.")
    await say(bot_app, "no such category")  # typed instead of tapped: asked again with the buttons
    assert buttons(sent(bot_app)[-1])
    await press(bot_app, "st:pcat:announcement")
    await say(bot_app, "ftp://moi.gov.tw/x")  # not http(s)
    assert last_text(bot_app) == t("en", "staff_post_link_bad")
    await say(bot_app, "https://www.moi.gov.tw/News_Content.aspx?n=2&s=999999")

    # The preview is exactly the citizen's rendering, then a Confirm / Cancel question.
    *_, preview, question = sent(bot_app)
    assert preview["text"].startswith("<b>Typhoon Kong-rey: household registration offices closed on Thursday</b>")
    assert any(b.get("url", "").endswith("s=999999") for b in buttons(preview))
    assert [b["callback_data"][:9] for b in buttons(question)] == ["st:post_o", "st:post_n"]
    assert post_count(services) == before  # nothing stored before confirming

    await press(bot_app, button_data(bot_app, "st:post_ok:"))
    assert post_count(services) == before + 1
    new = max(services.store.posts(), key=lambda p: p.imported_at + p.id)
    assert new.category == "announcement" and new.url.endswith("s=999999")
    assert f"Published as <b>{new.id}</b>" in last_text(bot_app)
    assert button_data(bot_app, "st:announce:") == f"st:announce:{new.id}"
    # Searchable at once.
    answer = services.engine.answer("typhoon kong-rey household registration closed")
    assert answer.hits and answer.hits[0].id == new.id
    # Confirming twice does not publish twice.
    await press(bot_app, f"st:post_ok:{question['reply_markup']['inline_keyboard'][0][0]['callback_data'][11:]}")
    assert post_count(services) == before + 1


async def test_post_conversation_cancel_stores_nothing(bot_app, services):
    before = post_count(services)
    await _post_until_preview(bot_app, "A post we will not publish", "Body text.")
    await press(bot_app, button_data(bot_app, "st:post_no:"))
    assert last_text(bot_app) == t("en", "staff_cancelled")
    assert post_count(services) == before
    # /cancel in the middle works too.
    await say(bot_app, "/post")
    await say(bot_app, "Another title")
    await say(bot_app, "/cancel")
    assert last_text(bot_app) == t("en", "staff_cancelled")
    await say(bot_app, "some text")  # no longer a post body
    assert last_text(bot_app) != t("en", "staff_post_ask_category")
    assert post_count(services) == before


async def test_confirm_button_of_an_older_preview_does_nothing(bot_app, services):
    before = post_count(services)
    await _post_until_preview(bot_app, "First draft", "Body one.")
    old = button_data(bot_app, "st:post_ok:")
    await say(bot_app, "/cancel")
    await _post_until_preview(bot_app, "Second draft", "Body two.")
    await press(bot_app, old)
    assert answers(bot_app)[-1]["text"] == t("en", "expired")
    assert post_count(services) == before
    await press(bot_app, button_data(bot_app, "st:post_ok:"))
    assert post_count(services) == before + 1
    assert any(p.title == "Second draft" for p in services.store.posts())


# -- /announce -------------------------------------------------------------------------------


def subscribe(services: Services, chats, topics=None) -> None:
    for chat in chats:
        services.ops.subscribe(chat, topics)


async def test_announce_preview_then_cancel_sends_nothing(bot_app, services):
    subscribe(services, range(501, 504), ["news"])
    await say(bot_app, "/announce")
    assert len(buttons(sent(bot_app)[-1])) == 5  # the five newest posts
    await say(bot_app, "p999999")  # looks like an id, is not one
    assert "no post with id p999999" in last_text(bot_app)
    await say(bot_app, "p055")
    topic_buttons = [b["text"] for b in buttons(sent(bot_app)[-1])]
    assert topic_buttons[0].startswith("News (3)") and topic_buttons[-1] == "All subscribers (3)"
    await press(bot_app, "st:atopic:news")
    await press(bot_app, "st:awhen:now")
    *_, preview, question = sent(bot_app)
    assert "zero time difference" in preview["text"]
    assert "<b>News</b> (3 subscribers) now" in question["text"]
    await press(bot_app, button_data(bot_app, "st:ann_no:"))
    assert last_text(bot_app) == t("en", "staff_cancelled")
    await wait_broadcasts(bot_app)
    assert services.ops.recent_broadcasts() == []
    assert not [m for m in sent(bot_app) if 501 <= int(m["chat_id"]) <= 503]


async def test_announce_confirm_broadcasts_with_progress_and_report(bot_app, services):
    subscribe(services, range(501, 506), ["news", "workshops"])
    subscribe(services, [506], ["workshops"])
    await say(bot_app, "/announce")
    latest = announce.latest_posts(services.store)[0]
    await press(bot_app, f"st:apost:{latest.id}")
    await press(bot_app, "st:atopic:news")
    await press(bot_app, "st:awhen:now")
    preview = sent(bot_app)[-2]
    await press(bot_app, button_data(bot_app, "st:ann_ok:"))
    await wait_broadcasts(bot_app)

    [info] = services.ops.recent_broadcasts()
    assert info.state == "done" and info.topic == "news" and info.post_id == latest.id
    for chat in range(501, 506):
        [got] = sent(bot_app, chat)  # exactly once, exactly the preview
        assert got["text"] == preview["text"] and got.get("reply_markup") == preview.get("reply_markup")
    assert sent(bot_app, 506) == []
    # One progress message, edited; a delivery report at the end.
    progress_id = info.progress_message_id
    edits = [e for e in bot_app.request_log.sent("editMessageText") if int(e.get("message_id", 0)) == progress_id]
    assert edits and "sent 5 / 5" in edits[-1]["text"] and "Finished" in edits[-1]["text"]
    report = last_text(bot_app)
    assert f"broadcast #{info.id}" in report and "Delivered: 5" in report and "Blocked the bot: 0" in report
    assert "Chat not found or account deactivated: 0" in report and "Other errors: 0" in report


async def test_announce_a_short_text_to_all_subscribers_once_each_and_escaped(bot_app, services):
    subscribe(services, [601], ["news"])
    subscribe(services, [602], ["workshops", "anti-trafficking"])
    subscribe(services, [603])  # every topic
    subscribe(services, [604])
    services.ops.mark_blocked(604, "blocked")
    await say(bot_app, "/announce")
    await say(bot_app, "Offices close at 15:00 <today> & tomorrow")
    await press(bot_app, "st:atopic:all")
    await press(bot_app, "st:awhen:now")
    assert "(3 subscribers)" in last_text(bot_app)
    await press(bot_app, button_data(bot_app, "st:ann_ok:"))
    await wait_broadcasts(bot_app)
    [info] = services.ops.recent_broadcasts()
    assert info.topic == ALL and info.state == "done" and info.total == 3 and info.sent == 3
    for chat in (601, 602, 603):
        [got] = sent(bot_app, chat)
        assert "Offices close at 15:00 &lt;today&gt; &amp; tomorrow" in got["text"]
    assert sent(bot_app, 604) == []


async def test_schedule_tomorrow_0900_is_stored_in_taipei_time_and_survives_a_restart(bot_app, services, settings):
    subscribe(services, [701, 702])
    await say(bot_app, "/announce Registration offices open late on Friday")
    await press(bot_app, "st:atopic:announcements")
    await say(bot_app, "whenever")
    assert "could not read that time" in last_text(bot_app)
    await say(bot_app, "2020-01-01 09:00")
    assert "has already passed" in last_text(bot_app)
    expected_day = (datetime.now(TAIPEI) + timedelta(days=1)).date()
    await say(bot_app, "tomorrow 09:00")
    assert f"at {expected_day.isoformat()} 09:00 (Asia/Taipei)?" in last_text(bot_app)
    await press(bot_app, button_data(bot_app, "st:ann_ok:"))

    [info] = services.ops.scheduled_broadcasts()
    when = datetime.fromisoformat(info.scheduled_for).astimezone(TAIPEI)
    assert (when.date(), when.hour, when.minute) == (expected_day, 9, 0)
    assert f"{expected_day.isoformat()} 09:00 (Asia/Taipei)" in last_text(bot_app)
    assert bot_app.job_queue.get_jobs_by_name(f"broadcast-{info.id}")
    assert sent(bot_app, 701) == []  # not sent now

    # A restart: new services on the same files, a new application, the start-up hook.
    again = Services.open(settings)
    app2 = build_application(settings, again, rate_limit=False, request=RecordingRequest(),
                             updates_request=RecordingRequest())
    await app2.initialize()
    try:
        assert [b.id for b in again.ops.scheduled_broadcasts()] == [info.id]
        await broadcast_jobs.resume_broadcasts(app2)
        [job] = app2.job_queue.get_jobs_by_name(f"broadcast-{info.id}")
        assert job.data == info.id
    finally:
        await app2.shutdown()
        again.close()


async def test_resume_runs_unfinished_broadcasts_editing_the_stored_progress_message(bot_app, services):
    subscribe(services, range(801, 811), ["news"])
    bid = announce.create(services.ops, STAFF_ID, "news", announce.from_text("Resumed news"))
    services.ops.set_progress_message(bid, STAFF_ID, 4321)
    services.ops.materialise_recipients(bid)
    for chat in range(801, 804):  # sent before the "crash"
        services.ops.mark_delivery(bid, chat, "sent")
    due = announce.create(services.ops, STAFF_ID, "workshops", announce.from_text("Due while down"),
                          services.now() + timedelta(seconds=1))
    subscribe(services, [899], ["workshops"])
    await asyncio.sleep(1.1)  # the scheduled one is now due
    await broadcast_jobs.resume_broadcasts(bot_app)
    await wait_broadcasts(bot_app)
    assert services.ops.broadcast(bid).state == "done" and services.ops.broadcast(bid).sent == 10
    assert [int(m["chat_id"]) for m in sent(bot_app) if m["text"].startswith("<b>📢")
            and "Resumed news" in m["text"]] == list(range(804, 811))
    edits = [e for e in bot_app.request_log.sent("editMessageText") if int(e.get("message_id", 0)) == 4321]
    assert edits and "sent 10 / 10" in edits[-1]["text"]
    assert services.ops.broadcast(due).state == "done" and len(sent(bot_app, 899)) == 1


async def test_stopping_the_bot_pauses_a_broadcast_and_the_next_start_finishes_it(bot_app, services, settings):
    subscribe(services, range(1, 101), ["news"])
    bid = announce.create(services.ops, STAFF_ID, "news", announce.from_text("Pause me"))
    await bot_app.start()
    await broadcast_jobs.resume_broadcasts(bot_app)  # the start-up hook: from now on a stop pauses broadcasts
    broadcast_jobs.launch(bot_app, bid, "en")
    await asyncio.sleep(0.5)  # about a dozen sent at 25/s
    started = time.monotonic()
    await bot_app.stop()  # app.stop() waits for create_task tasks: the broadcast must end promptly
    assert time.monotonic() - started < 2
    info = services.ops.broadcast(bid)
    assert info.state == "running" and info.failed == 0 and 0 < info.sent < 100
    first = [int(m["chat_id"]) for m in sent(bot_app) if "Pause me" in m["text"]]
    assert len(first) == info.sent  # everything that left was recorded, nothing was marked failed

    request = RecordingRequest()
    app2 = build_application(settings, services, rate_limit=False, request=request,
                             updates_request=RecordingRequest())
    await app2.initialize()
    await app2.start()
    try:
        await broadcast_jobs.resume_broadcasts(app2)
        await wait_broadcasts(app2)
    finally:
        await app2.stop()
        await app2.shutdown()
    second = [int(p["chat_id"]) for p in request.sent() if "Pause me" in p["text"]]
    assert sorted(first + second) == list(range(1, 101))  # nobody missed, nobody twice
    assert services.ops.broadcast(bid).state == "done"
    edits = [p for p in request.sent("editMessageText") if int(p.get("message_id", 0)) == info.progress_message_id]
    assert edits and "sent 100 / 100" in edits[-1]["text"]  # the first run's progress message, resumed


async def test_broadcasts_cancel_broadcast_and_stats_for_staff(bot_app, services):
    subscribe(services, [901, 902], ["news"])
    subscribe(services, [903], ["workshops"])
    services.ops.mark_blocked(903, "blocked")
    services.ops.log_question("passport", "post", "p001", 0.9, None)
    services.ops.log_question("beef noodles", "none", None, None, None)
    later = announce.create(services.ops, STAFF_ID, "news", announce.from_text("Later"),
                            services.now() + timedelta(days=2))
    await say(bot_app, "/broadcasts")
    assert f"#{later} · News · scheduled" in last_text(bot_app)
    await say(bot_app, "/cancel_broadcast")
    assert "/cancel_broadcast 12" in last_text(bot_app)
    await say(bot_app, "/cancel_broadcast 9999")
    assert last_text(bot_app) == "There is no broadcast #9999."
    bot_app.job_queue.run_once(lambda c: None, when=timedelta(days=2), name=f"broadcast-{later}")
    await say(bot_app, f"/cancel_broadcast {later}")
    assert f"Broadcast #{later} cancelled" in last_text(bot_app)
    assert services.ops.broadcast(later).state == "cancelled"
    assert not bot_app.job_queue.get_jobs_by_name(f"broadcast-{later}")  # its timer is disarmed
    await say(bot_app, f"/cancel_broadcast {later}")
    assert "already cancelled" in last_text(bot_app)
    await say(bot_app, "/stats")
    stats_text = last_text(bot_app)
    assert "2 active, 1 blocked" in stats_text and "• News: 2" in stats_text and "• Workshops: 0" in stats_text
    assert "1 answered, 1 declined, 2 in all" in stats_text


async def test_cancel_button_on_the_progress_message_stops_a_running_broadcast(bot_app, services):
    subscribe(services, range(1, 201), ["news"])
    bid = announce.create(services.ops, STAFF_ID, "news", announce.from_text("Long one"))
    task = broadcast_jobs.launch(bot_app, bid)
    await asyncio.sleep(0.5)
    await press(bot_app, f"st:bcancel:{bid}")
    assert answers(bot_app)[-1]["text"].startswith(f"Broadcast #{bid} cancelled")
    await asyncio.wait_for(task, 10)
    info = services.ops.broadcast(bid)
    assert info.state == "cancelled" and 0 < info.sent < 200
    assert "cancelled" in last_text(bot_app) and f"Not sent: {200 - info.sent}" in last_text(bot_app)


# -- bot/announce with a fixed clock ---------------------------------------------------------

NOW = datetime(2026, 11, 30, 22, 15, 30, tzinfo=TAIPEI)  # a Monday evening in Taipei


@pytest.mark.parametrize(("typed", "expected"), [
    ("tomorrow 09:00", datetime(2026, 12, 1, 9, 0)),
    ("Tomorrow 9:00", datetime(2026, 12, 1, 9, 0)),
    ("tomorrow 9am", datetime(2026, 12, 1, 9, 0)),
    ("tomorrow at 6 pm", datetime(2026, 12, 1, 18, 0)),
    ("today 23:00", datetime(2026, 11, 30, 23, 0)),
    ("23:30", datetime(2026, 11, 30, 23, 30)),
    ("2026-12-01 14:30", datetime(2026, 12, 1, 14, 30)),
    ("2026/12/1 14:30", datetime(2026, 12, 1, 14, 30)),
    ("2027-01-05T08:05", datetime(2027, 1, 5, 8, 5)),
    ("in 2 hours", datetime(2026, 12, 1, 0, 15)),
    ("in 30 minutes", datetime(2026, 11, 30, 22, 45)),
    ("in 1 day", datetime(2026, 12, 1, 22, 15)),
    ("明天 09:00", datetime(2026, 12, 1, 9, 0)),
    ("後天 18:00", datetime(2026, 12, 2, 18, 0)),
    ("2小時後", datetime(2026, 12, 1, 0, 15)),
])
def test_parse_when_reads_taipei_times(typed, expected):
    when = announce.parse_when(typed, NOW)
    assert when == expected.replace(tzinfo=TAIPEI) and when.utcoffset() == timedelta(hours=8)


def test_parse_when_now_and_a_utc_clock():
    assert announce.parse_when("now", NOW) is None and announce.parse_when("", NOW) is None
    # 23:30 UTC on 30 Nov is 07:30 on 1 Dec in Taipei: "today" means the Taipei day.
    utc_clock = datetime.fromisoformat("2026-11-30T23:30:00+00:00")
    assert announce.parse_when("today 18:00", utc_clock) == datetime(2026, 12, 1, 18, 0, tzinfo=TAIPEI)


@pytest.mark.parametrize(("typed", "key"), [
    ("today 18:00", "staff_when_past"),
    ("22:15", "staff_when_past"),
    ("2026-11-30 22:00", "staff_when_past"),
    ("2020-01-01 09:00", "staff_when_past"),
    ("2028-06-01 09:00", "staff_when_far"),
    ("2026-02-30 09:00", "staff_when_invalid"),
    ("tomorrow 25:00", "staff_when_invalid"),
    ("tomorrow 13pm", "staff_when_invalid"),
    ("2026-12-01", "staff_when_need_time"),
    ("tomorrow", "staff_when_need_time"),
    ("9", "staff_when_unknown"),
    ("next week sometime", "staff_when_unknown"),
    ("in 3 fortnights", "staff_when_unknown"),
])
def test_parse_when_refuses_with_a_clear_message(typed, key):
    with pytest.raises(ScheduleError) as caught:
        announce.parse_when(typed, NOW)
    assert caught.value.key == key
    message = caught.value.message("en")
    assert message and "{" not in message
    if key == "staff_when_past":
        assert "already passed" in message and "2026-11-30 22:15 (Asia/Taipei)" in message
    assert caught.value.message("zh") != message


def test_post_field_validation():
    assert announce.clean_title("  Two   spaces  ") == "Two spaces"
    with pytest.raises(StaffInputError):
        announce.clean_title("x" * 301)
    assert announce.clean_link("https://www.moi.gov.tw/x?a=1") == "https://www.moi.gov.tw/x?a=1"
    for bad in ["javascript:alert(1)", "ftp://x.org", "https://", "www.moi.gov.tw", "https://a b.org"]:
        with pytest.raises(StaffInputError):
            announce.clean_link(bad)
    assert announce.clean_category("Workshop") == "workshop"
    assert announce.clean_topic("workshop") == "workshops" and announce.clean_topic("ALL") == ALL


def test_categories_map_to_topics():
    assert announce.CATEGORY_TOPIC == {"news": "news", "workshop": "workshops",
                                       "anti-trafficking": "anti-trafficking",
                                       "cooperation": "anti-trafficking", "announcement": "announcements"}


def test_announcement_from_a_post_is_the_citizen_rendering_plus_the_footer(services):
    post = services.store.post("p055")
    ann = announce.from_post(post, bot_username="moi_helper_bot")
    citizen = announce.post_reply(post, "en", bot_username="moi_helper_bot")
    assert ann.text_html.startswith(citizen.text) and ann.post_id == "p055"
    assert ann.reply().buttons == citizen.buttons
    assert Announcement.from_dict(ann.to_dict()) == ann
    with pytest.raises(StaffInputError):
        announce.from_text("x" * (announce.MAX_SHORT_TEXT + 1))


def test_stats_and_list_texts(services):
    services.ops.subscribe(1, ["news"])
    services.ops.subscribe(2)
    text = announce.stats(services)
    assert "2 active, 0 blocked" in text and "• News: 2" in text and "• Announcements: 1" in text
    assert announce.list_broadcasts(services.ops) == t("en", "staff_list_empty")
    bid = announce.create(services.ops, 7, "news", announce.from_text("x"))
    services.ops.materialise_recipients(bid)
    services.ops.mark_delivery(bid, 1, "sent")
    services.ops.mark_delivery(bid, 2, "failed", "blocked")
    assert f"#{bid} · News · running · 1 / 2 · 1 not delivered" in announce.list_broadcasts(services.ops)
    assert "Blocked the bot: 1" in announce.report_text(services.ops, bid, "en")
    assert "已封鎖機器人：1" in announce.report_text(services.ops, bid, "zh")


# -- the terminal ----------------------------------------------------------------------------


def _cli_settings(settings: Settings, **changes) -> Settings:
    from dataclasses import replace

    return replace(settings, **changes)


def test_cli_subscribers_counts_by_topic_and_blocked(services, settings):
    services.ops.subscribe(1, ["news"])
    services.ops.subscribe(2)
    services.ops.subscribe(3, ["workshops"])
    services.ops.mark_blocked(3, "blocked")
    out = io.StringIO()
    assert cmd_subscribers(settings, out=out) == 0
    text = out.getvalue()
    assert "active: 2" in text and "blocked: 1" in text and "news: 2" in text and "workshops: 1" in text


def test_cli_announce_now_without_a_token_fails_clearly_and_stores_nothing(services, settings):
    services.ops.subscribe(1)
    out, err = io.StringIO(), io.StringIO()
    code = cmd_announce(_cli_settings(settings, token=""), topic="news", post="p055", text=None, at=None,
                        yes=True, out=out, err=err)
    assert code == 2 and "TELEGRAM_BOT_TOKEN" in err.getvalue()
    assert services.ops.recent_broadcasts() == []


def test_cli_announce_preview_confirmation_and_schedule(services, settings):
    services.ops.subscribe(1)
    out, err = io.StringIO(), io.StringIO()
    # Asked, answered no: nothing stored.
    code = cmd_announce(settings, topic="all", post=None, text="Offices closed <Friday>", at="tomorrow 09:00",
                        yes=False, out=out, err=err, ask=lambda prompt: "n")
    assert code == 1 and services.ops.recent_broadcasts() == []
    assert "Offices closed <Friday>" in out.getvalue() and "1 subscriber" in out.getvalue()
    # --yes and --at: scheduled, no token needed.
    out = io.StringIO()
    code = cmd_announce(_cli_settings(settings, token=""), topic="news", post="p055", text=None,
                        at="tomorrow 09:00", yes=True, out=out, err=err)
    assert code == 0
    [info] = services.ops.scheduled_broadcasts()
    assert info.post_id == "p055" and info.topic == "news"
    assert datetime.fromisoformat(info.scheduled_for).astimezone(TAIPEI).hour == 9
    assert f"#{info.id}" in out.getvalue()
    # A time in the past is refused with the reason.
    err = io.StringIO()
    code = cmd_announce(settings, topic="news", post="p055", text=None, at="2020-01-01 09:00", yes=True,
                        out=io.StringIO(), err=err)
    assert code == 2 and "already passed" in err.getvalue()



async def test_staff_can_give_the_chinese_title_on_a_second_line(bot_app, services):
    await _post_until_preview(bot_app, "Lantern festival safety checks in Pingtung\n屏東燈會安全檢查",
                              "Fire officers checked every lantern and the drone show area in Pingtung.")
    await press(bot_app, button_data(bot_app, "st:post_ok:"))
    new = max(services.store.posts(), key=lambda p: p.imported_at + p.id)
    assert new.title == "Lantern festival safety checks in Pingtung"
    assert new.text("zh", "title") == "屏東燈會安全檢查"
    answer, reply = services.assistant.ask("屏東燈會安全檢查", "en")
    assert answer.hits and answer.hits[0].id == new.id
    assert "屏東燈會安全檢查" in reply.text
