"""The rough edges of issue 15 for staff: the same post announced twice (warned, a second confirmation), a
time in the past read as past ("yesterday 09:00"), and the terminal told what to type, not what to tap."""

from __future__ import annotations

import asyncio
import io
from datetime import datetime

import pytest

from bot import announce
from bot.announce import ScheduleError
from bot.cli import cmd_announce
from bot.flood import FloodGate
from bot.i18n import t
from bot.opstore import TAIPEI
from handlers import broadcast_jobs
from tests.conftest import STAFF_ID

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=TAIPEI)


@pytest.fixture(autouse=True)
def roomy_flood_gate(request):
    if "bot_app" in request.fixturenames:
        request.getfixturevalue("bot_app").bot_data["flood"] = FloodGate(per_minute=6000, burst=500)


# -- announcing the same post twice ---------------------------------------------------------------


async def _announce_post(app, post_id: str) -> dict:
    await app.process_update(app.updates.text(f"/announce {post_id}", user_id=STAFF_ID))
    await app.process_update(app.updates.press("st:atopic:news", user_id=STAFF_ID))
    await app.process_update(app.updates.press("st:awhen:now", user_id=STAFF_ID))
    return app.request_log.sent()[-1]


def _data(message: dict, prefix: str) -> str:
    return next(b["callback_data"] for row in message["reply_markup"]["inline_keyboard"] for b in row
                if b.get("callback_data", "").startswith(prefix))


async def _wait(app) -> None:
    tasks = broadcast_jobs.running_tasks(app)
    if tasks:
        await asyncio.wait_for(asyncio.gather(*tasks), 20)


async def test_announcing_the_same_post_twice_is_warned_and_needs_a_second_confirmation(bot_app, services):
    for chat in (801, 802):
        services.ops.subscribe(chat, ["news"])
    question = await _announce_post(bot_app, "p062")
    assert "already announced" not in question["text"]  # the first time: the usual question
    await bot_app.process_update(bot_app.updates.press(_data(question, "st:ann_ok:"), user_id=STAFF_ID))
    await _wait(bot_app)
    assert len(services.ops.broadcasts_of_post("p062")) == 1

    question = await _announce_post(bot_app, "p062")  # the same post again
    assert "p062 was already announced" in question["text"] and "2 delivered" in question["text"]
    await bot_app.process_update(bot_app.updates.press(_data(question, "st:ann_ok:"), user_id=STAFF_ID))
    again = bot_app.request_log.sent()[-1]
    assert t("en", "staff_ann_again_ask") in again["text"]
    assert len(services.ops.broadcasts_of_post("p062")) == 1  # one Confirm is not enough
    await bot_app.process_update(bot_app.updates.press(_data(again, "st:ann_no:"), user_id=STAFF_ID))
    await _wait(bot_app)
    assert len(services.ops.broadcasts_of_post("p062")) == 1  # cancelled at the second question

    question = await _announce_post(bot_app, "p062")
    await bot_app.process_update(bot_app.updates.press(_data(question, "st:ann_ok:"), user_id=STAFF_ID))
    again = bot_app.request_log.sent()[-1]
    await bot_app.process_update(bot_app.updates.press(_data(again, "st:ann_again:"), user_id=STAFF_ID))
    await _wait(bot_app)
    assert len(services.ops.broadcasts_of_post("p062")) == 2  # confirmed twice: sent again
    # A citizen cannot press the second confirmation either.
    await bot_app.process_update(bot_app.updates.press(_data(again, "st:ann_again:"), user_id=1001))
    assert bot_app.request_log.sent("answerCallbackQuery")[-1]["text"] == t("en", "staff_only")


def test_the_cli_needs_a_second_confirmation_for_a_post_announced_before(services, settings):
    services.ops.subscribe(1, ["news"])
    first = announce.create(services.ops, 7, "news", announce.from_post(services.store.post("p062")),
                            datetime(2027, 1, 1, 9, 0, tzinfo=TAIPEI))
    out, err = io.StringIO(), io.StringIO()
    code = cmd_announce(settings, topic="news", post="p062", text=None, at="tomorrow 09:00", yes=True, out=out, err=err)
    assert code == 2 and "--again" in err.getvalue() and f"#{first}" in out.getvalue()
    asked: list[str] = []
    code = cmd_announce(settings, topic="news", post="p062", text=None, at="tomorrow 09:00", yes=False,
                        out=io.StringIO(), err=err, ask=lambda prompt: asked.append(prompt) or "yes")
    assert code == 1 and len(asked) == 2 and "again" in asked[1]  # "yes" is not "again"
    code = cmd_announce(settings, topic="news", post="p062", text=None, at="tomorrow 09:00", yes=False,
                        out=io.StringIO(), err=err, ask=lambda prompt: "again" if "again" in prompt else "yes")
    assert code == 0
    code = cmd_announce(settings, topic="news", post="p062", text=None, at="tomorrow 10:00", yes=True, again=True,
                        out=io.StringIO(), err=err)
    assert code == 0 and len(services.ops.broadcasts_of_post("p062")) == 3


# -- times in the past, and the terminal's wording --------------------------------------------------


@pytest.mark.parametrize("typed", ["yesterday 09:00", "yesterday", "昨天 18:00", "前天 09:00", "2 hours ago",
                                   "2小時前", "yesterday at 9pm"])
def test_a_time_in_the_past_is_said_to_have_passed(typed):
    with pytest.raises(ScheduleError) as caught:
        announce.parse_when(typed, NOW)
    assert caught.value.key == "staff_when_past"
    assert "already passed" in caught.value.message("en")


def test_the_terminal_is_not_told_to_tap_a_button(services, settings):
    err = io.StringIO()
    code = cmd_announce(settings, topic="news", post="p062", text=None, at="whenever", yes=True,
                        out=io.StringIO(), err=err)
    assert code == 2 and "could not read that time" in err.getvalue()
    assert "tap" not in err.getvalue().lower() and "--at" in err.getvalue()
    assert "Send now" in ScheduleError("staff_when_unknown").message("en")  # Telegram keeps its wording
