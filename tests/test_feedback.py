"""👍 / 👎 under answers, through the real handler path (a real PTB Application, real Updates, a recording
transport) and the real question log (SQLite in a tmp folder)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot import callbacks, feedback
from bot.i18n import t
from bot.opstore import SQLiteOperationalStore

CITIZEN = 2002


def _buttons(message: dict) -> list[dict]:
    markup = message.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


def _vote_data(message: dict) -> dict[str, str]:
    return {b["text"]: b["callback_data"] for b in _buttons(message) if b.get("callback_data", "").startswith("v:")}


async def _ask(app, text: str, user: int = CITIZEN) -> dict:
    await app.process_update(app.updates.text(text, user_id=user))
    return app.request_log.sent()[-1]


def _counts(services) -> dict[str, int]:
    services.flush_questions()
    return services.ops.question_counts(services.now() - timedelta(days=1))


async def test_a_post_answer_has_vote_buttons_and_a_vote_is_stored_with_the_masked_question(bot_app, services):
    answer = await _ask(bot_app, "philipines MOU human trafficing 0912345678")
    votes = _vote_data(answer)
    assert set(votes) == {feedback.UP, feedback.DOWN}
    await bot_app.process_update(bot_app.updates.press(votes[feedback.UP], user_id=CITIZEN))
    assert bot_app.request_log.sent("answerCallbackQuery")[-1]["text"] == t("en", "feedback_thanks")
    ref = callbacks.decode(votes[feedback.UP]).args[1]
    row = services.ops.question_by_ref(ref)
    assert row.vote == 1 and row.kind == "post" and row.reason in ("match", "tentative")
    assert row.ids[0] == services.engine.answer("philipines MOU human trafficing").ids[0]  # the answer given
    assert "##########" in row.text and "0912345678" not in row.text  # masked like the log
    assert _counts(services)["up"] == 1


async def test_a_second_vote_on_the_same_answer_replaces_the_first(bot_app, services):
    votes = _vote_data(await _ask(bot_app, "eswatini immigration MOU"))
    for _ in range(3):  # pressed again and again: still one vote
        await bot_app.process_update(bot_app.updates.press(votes[feedback.UP], user_id=CITIZEN))
    counts = _counts(services)
    assert (counts["up"], counts["down"]) == (1, 0)
    await bot_app.process_update(bot_app.updates.press(votes[feedback.DOWN], user_id=CITIZEN))
    counts = _counts(services)
    assert (counts["up"], counts["down"]) == (0, 1)  # changed, not added
    assert bot_app.request_log.sent("answerCallbackQuery")[-1]["text"] == t("en", "feedback_changed")
    # A second answer is a second question: its vote counts on its own.
    other = _vote_data(await _ask(bot_app, "2018 anti-trafficking workshop"))
    await bot_app.process_update(bot_app.updates.press(other[feedback.UP], user_id=CITIZEN))
    counts = _counts(services)
    assert (counts["up"], counts["down"], counts["asked"]) == (1, 1, 2)


async def test_a_thumbs_down_offers_the_next_answers_and_the_1996_hotline_once(bot_app, services):
    answer = await _ask(bot_app, "philipines MOU human trafficing")
    ref = callbacks.decode(_vote_data(answer)[feedback.DOWN]).args[1]
    services.flush_questions()
    given = services.ops.question_by_ref(ref)
    before = len(bot_app.request_log.sent())
    await bot_app.process_update(bot_app.updates.press(_vote_data(answer)[feedback.DOWN], user_id=CITIZEN))
    follow_up = bot_app.request_log.sent()[-1]
    assert len(bot_app.request_log.sent()) == before + 1
    assert "1996" in follow_up["text"] and "+886-2-8195-8151" in follow_up["text"]
    offered = [callbacks.decode(b["callback_data"]).args[0] for b in _buttons(follow_up)]
    assert offered and offered == [i for i in given.ids[1:4]]  # the next candidates, not the one refused
    # The same 👎 again: no second follow-up, no second vote.
    await bot_app.process_update(bot_app.updates.press(_vote_data(answer)[feedback.DOWN], user_id=CITIZEN))
    assert len(bot_app.request_log.sent()) == before + 1
    assert _counts(services)["down"] == 1


async def test_a_contact_answer_gets_votes_but_a_referral_a_list_and_a_decline_do_not(bot_app):
    assert _vote_data(await _ask(bot_app, "phone number of the immigration agency"))
    assert not _vote_data(await _ask(bot_app, "my boss took my passport and locks me in the dorm"))
    assert not _vote_data(await _ask(bot_app, "latest news"))
    assert not _vote_data(await _ask(bot_app, "best beef noodle near taipei main station"))


async def test_forged_or_unknown_vote_buttons_change_nothing(bot_app, services):
    await _ask(bot_app, "eswatini immigration MOU")
    for data in ("v:up:AAAAAAAAAAA", "v:sideways:abcdefgh", "v:up:../../etc", "v:down:" + "x" * 40):
        await bot_app.process_update(bot_app.updates.press(data, user_id=CITIZEN))
        assert bot_app.request_log.sent("answerCallbackQuery")[-1]["text"] == t("en", "expired")
    counts = _counts(services)
    assert counts["up"] == counts["down"] == 0


async def test_clear_this_chat_forgets_the_vote_with_the_question(bot_app, services):
    votes = _vote_data(await _ask(bot_app, "eswatini immigration MOU"))
    await bot_app.process_update(bot_app.updates.press(votes[feedback.UP], user_id=CITIZEN))
    services.forget_user(CITIZEN)
    assert services.ops.question_by_ref(callbacks.decode(votes[feedback.UP]).args[1]) is None


async def test_the_vote_is_stored_without_who_voted(bot_app, services):
    votes = _vote_data(await _ask(bot_app, "eswatini immigration MOU", user=987_654))
    await bot_app.process_update(bot_app.updates.press(votes[feedback.DOWN], user_id=987_654))
    services.flush_questions()
    path = services.settings.operational_path
    stored = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    assert b"987654" not in stored


def test_a_vote_on_an_unknown_reference_is_refused_by_the_store(tmp_path):
    ops = SQLiteOperationalStore(tmp_path / "s.sqlite3")
    ops.log_question("q", "post", "p1", 90.0, None, ref="abcdefgh12", reason="match", ids=["p1", "p2"])
    assert ops.set_vote("abcdefgh12", 1) is None and ops.set_vote("abcdefgh12", -1) == 1
    with pytest.raises(KeyError):
        ops.set_vote("zzzzzzzz99", 1)
    with pytest.raises(ValueError):
        ops.log_question("q", "post", None, None, None, ref="1; DROP TABLE")
    ops.close()
