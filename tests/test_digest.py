"""The unanswered-questions digest: the grouping on questions with known groups, and the whole loop through
the real handler path: citizens' questions declined, staff's /digest and its buttons (refused to anyone
else, whatever the data), an alternate question that changes the next answer, the search, the daily job,
and the same actions in the CLI."""

from __future__ import annotations

from datetime import timedelta

import pytest
from telegram.ext import CallbackContext

from bot import digest
from bot.cli import main
from bot.i18n import t
from bot.privacy import mask_personal
from handlers import digest as digest_handlers
from tests.conftest import STAFF_ID

CITIZEN, OTHER = 3003, 3004

# Written for this test (none from an evaluation file): 15 groups, the way people ask, digits masked as the
# question log keeps them. data/learning.json's cluster_threshold and cluster_min_weight come from this list.
KNOWN_GROUPS = {
    "prepaid": ["is calling 1999 free from a prepaid phone", "1999 free call with prepaid card?",
                "does 1999 cost money on a prepaid sim", "prepaid phone 1999 fee"],
    "noodle": ["best beef noodle near taipei main station", "where to eat beef noodles near taipei station",
               "beef noodle soup taipei recommendation"],
    "arc": ["how to renew my ARC", "renew arc residence permit how", "ARC renewal steps",
            "how do i renew my alien resident certificate"],
    "arc-zh": ["居留證怎麼延長", "居留證延長要怎麼辦", "如何延長居留證"],
    "weather": ["weather tomorrow taipei", "will it rain in taipei tomorrow", "taipei weather forecast tomorrow"],
    "minister": ["who is the minister of the interior now", "current interior minister name"],
    "visa": ["can i extend my tourist visa", "extend visitor visa taiwan"],
    "permit": ["can trafficking victims get a work permit",
               "may a victim of trafficking work legally while the case goes on"],
    "shelters": ["how many typhoon shelters in hualien"],
    "bus": ["bus from airport to taipei"],
    "photo": ["passport photo size"],
    # Questions that share only the ministry's everyday words: each a group of its own.
    "law": ["when did the anti trafficking law take effect"],
    "workshop": ["what did the 2017 workshop on human trafficking discuss"],
    "cases": ["how many human trafficking cases were prosecuted last year"],
    "victim-shelters": ["where are the shelters for trafficking victims"],
}
# Two known groups stay apart: every word their phrasings share ("interior", "minister"; "trafficking",
# "victim", "work") is common among the posts, and a common word is no evidence of the same question.
APART = {"minister", "permit"}


def _items() -> tuple[list[str], list[str]]:
    items = [(label, mask_personal(q)) for label, qs in KNOWN_GROUPS.items() for q in qs]
    return [label for label, _ in items], [text for _, text in items]


def _partition(groups: list[list[int]], labels: list[str]) -> list[set[str]]:
    return [{labels[i] for i in g} for g in groups]


@pytest.mark.parametrize("threshold", [45, None, 60])  # None: data/learning.json's value
def test_declined_questions_fall_into_their_known_groups(services, threshold):
    labels, texts = _items()
    groups = digest.cluster(texts, threshold, weight=services.engine.post_index.idf)
    found = _partition(groups, labels)
    assert all(len(labels_in) == 1 for labels_in in found)  # no two questions merged wrongly
    whole = {label for label in KNOWN_GROUPS if sum(label in labels_in for labels_in in found) == 1}
    assert whole == set(KNOWN_GROUPS) - APART
    assert len(groups) == len(KNOWN_GROUPS) + len(APART)
    assert [len(g) for g in groups][:3] == [4, 4, 3]  # the most frequent first


def test_without_the_shared_word_rule_everyday_words_merge_questions():
    labels, texts = _items()
    merged = [found for found in _partition(digest.cluster(texts, 55), labels) if len(found) > 1]
    assert merged  # "human trafficking" alone made questions look alike


def test_grouping_is_by_content_words_not_by_spelling_or_order():
    assert digest.content_key("How do I renew my ARC?") == digest.content_key("renew ARC how do i")
    assert digest.content_key("call #### now") == digest.content_key("call now")  # masked digits say nothing
    assert digest.cluster([]) == []


def test_periods_and_times_staff_type():
    assert digest.parse_period("7d") == timedelta(days=7) and digest.parse_period("24h") == timedelta(hours=24)
    assert digest.parse_period("2w") == timedelta(days=14) and digest.parse_period("") == digest.DEFAULT_PERIOD
    for bad in ("0d", "forever", "9999d", "7x"):
        with pytest.raises(digest.PeriodError):
            digest.parse_period(bad)
    assert digest.parse_time_of_day("18:30").hour == 18 and digest.parse_time_of_day("off") is None
    with pytest.raises(digest.PeriodError):
        digest.parse_time_of_day("25:00")


# -- through the handlers -----------------------------------------------------------------------


async def _say(app, text: str, user: int) -> dict:
    await app.process_update(app.updates.text(text, user_id=user))
    return app.request_log.sent()[-1]


async def _press(app, data: str, user: int) -> None:
    await app.process_update(app.updates.press(data, user_id=user))


def _buttons(message: dict) -> list[dict]:
    return [b for row in (message.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]


def _groups(app, since: int) -> list[dict]:
    """The group messages of the digest sent after `since` messages."""
    return [m for m in app.request_log.sent()[since:] if any(b.get("callback_data", "").startswith("dg:")
                                                             for b in _buttons(m))]


def _data(message: dict, prefix: str) -> list[str]:
    return [b["callback_data"] for b in _buttons(message) if b.get("callback_data", "").startswith(prefix)]


async def _digest(app, user: int = STAFF_ID, args: str = "") -> list[dict]:
    before = len(app.request_log.sent())
    await _say(app, f"/digest {args}".strip(), user)
    return _groups(app, before)


async def test_the_digest_groups_declined_and_thumbs_down_questions_most_frequent_first(bot_app, services):
    for q in ("best beef noodle near taipei main station", "where to eat beef noodles near taipei station",
              "when is the drill", "hello"):
        await _say(bot_app, q, CITIZEN)
    answer = await _say(bot_app, "eswatini immigration MOU", OTHER)
    await _press(bot_app, _data(answer, "v:down:")[0], OTHER)  # a 👎: in the digest too
    heading_at = len(bot_app.request_log.sent())
    groups = await _digest(bot_app)
    heading = bot_app.request_log.sent()[heading_at]["text"]
    assert "4 question(s) in 3 group(s)" in heading  # "hello" is small talk, not a question to review
    assert "×2" in groups[0]["text"] and "beef noodle" in groups[0]["text"]
    assert any("eswatini" in g["text"] and "👎" in g["text"] for g in groups)
    for group in groups:
        assert _data(group, "dg:out:") and _data(group, "dg:ign:") and _data(group, "dg:find:")
        assert all(len(d.encode()) <= 64 for d in _data(group, "dg:"))
    drill = next(g for g in groups if "when is the drill" in g["text"])
    assert _data(drill, "dg:add:")  # the posts that came closest are offered
    # The engine answered it only with "I think this is it": staff review it like a declined one.
    assert "tentatively" in drill["text"]


async def test_a_citizen_pressing_digest_buttons_is_refused_also_with_forged_data(bot_app, services):
    await _say(bot_app, "when is the drill", CITIZEN)
    [group] = await _digest(bot_app)
    add = _data(group, "dg:add:")[0]
    forged = [add, _data(group, "dg:out:")[0], _data(group, "dg:find:")[0], "dg:add:1:../../etc",
              "dg:add:99999999:p001", "dg:nonsense", "dg:" + "9" * 70]
    for data in forged:
        await _press(bot_app, data, CITIZEN)
        assert bot_app.request_log.sent("answerCallbackQuery")[-1]["text"] == t("en", "staff_only"), data
    # Nothing happened: the post has no alternate question, the group is still open, the question unreviewed.
    group_id, post_id = int(add.split(":")[2]), add.split(":")[3]
    assert services.store.post(post_id).questions == ()
    assert services.ops.digest_group(group_id).state == "open"
    assert len(await _digest(bot_app)) == 1
    # A citizen cannot ask for the digest either.
    before = len(bot_app.request_log.sent())
    reply = await _say(bot_app, "/digest", CITIZEN)
    assert reply["text"] == t("en", "staff_only") and not _groups(bot_app, before)


async def test_staff_forged_or_stale_digest_buttons_do_nothing(bot_app, services):
    for data in ("dg:add:99999999:p001", "dg:out:424242"):
        await _press(bot_app, data, STAFF_ID)
        assert bot_app.request_log.sent("answerCallbackQuery")[-1]["text"] == t("en", "expired")
    assert services.ops.question_counts(services.now() - timedelta(days=1))["asked"] == 0


async def test_an_alternate_question_added_from_the_digest_changes_the_next_answer(bot_app, services):
    question = "wedding registration for two women"
    declined = await _say(bot_app, question, CITIZEN)
    assert "could not find" in declined["text"]
    [group] = await _digest(bot_app)
    add = next(d for d in _data(group, "dg:add:") if d.endswith(":p062"))  # same-sex marriage registration
    await _press(bot_app, add, STAFF_ID)
    said = bot_app.request_log.sent()[-1]["text"]
    assert "Added to p062" in said and "now answers it with p062" in said
    assert bot_app.request_log.sent("editMessageReplyMarkup")  # the group's buttons are gone
    # Stored on the post in the TinyDB file (another process reading the store sees it), and the matcher
    # uses it at once: the same question now gets the post.
    from bot.store import PostStore

    assert PostStore(services.settings.db_path).post("p062").questions == (question,)
    again = await _say(bot_app, question, CITIZEN)
    assert services.engine.posts["p062"].title[:40] in again["text"]
    # Reviewed: the digest does not show it again; the same button again says it was handled.
    assert await _digest(bot_app) == []
    await _press(bot_app, add, STAFF_ID)
    assert "already handled" in bot_app.request_log.sent("answerCallbackQuery")[-1]["text"]


async def test_out_of_scope_and_ignore_take_groups_out_of_the_digest(bot_app, services):
    for q in ("best beef noodle near taipei main station", "when is the drill"):
        await _say(bot_app, q, CITIZEN)
    groups = await _digest(bot_app)
    await _press(bot_app, _data(groups[0], "dg:out:")[0], STAFF_ID)
    assert "out of scope" in bot_app.request_log.sent()[-1]["text"]
    await _press(bot_app, _data(groups[1], "dg:ign:")[0], STAFF_ID)
    assert await _digest(bot_app) == []
    services.flush_questions()
    reviews = {q.text: q.review for q in services.ops.questions_to_review(services.now() - timedelta(days=1))}
    assert reviews == {}  # both reviewed


async def test_staff_search_for_another_post_then_add(bot_app, services):
    await _say(bot_app, "when is the drill", CITIZEN)
    [group] = await _digest(bot_app)
    await _press(bot_app, _data(group, "dg:find:")[0], STAFF_ID)
    assert bot_app.request_log.sent()[-1]["text"] == t("en", "staff_digest_search_ask")
    results = await _say(bot_app, "p097", STAFF_ID)  # a post id typed: that post first
    choices = _data(results, "dg:add:")
    assert choices[0].endswith(":p097")
    await _press(bot_app, choices[0], STAFF_ID)
    assert "Added to p097" in bot_app.request_log.sent()[-1]["text"]
    assert services.store.post("p097").questions == ("when is the drill",)
    # The conversation is over: the staff member's next message is a question again.
    reply = await _say(bot_app, "eswatini immigration MOU", STAFF_ID)
    assert "Swaziland" in reply["text"]


async def test_digest_time_is_kept_and_the_daily_job_sends_the_digest_to_staff_once(bot_app, services):
    await _say(bot_app, "/digest_time 18:30", STAFF_ID)
    assert "18:30" in bot_app.request_log.sent()[-1]["text"]
    assert services.ops.setting(digest.DIGEST_TIME) == "18:30"
    [job] = bot_app.job_queue.get_jobs_by_name(digest_handlers.JOB)
    assert digest.digest_time(services).hour == 18
    await _say(bot_app, "/digest_time off", STAFF_ID)
    assert digest.digest_time(services) is None
    await _say(bot_app, "/digest_time 09:00", STAFF_ID)

    await _say(bot_app, "when is the drill", CITIZEN)
    before = len(bot_app.request_log.sent())
    await digest_handlers.daily(CallbackContext(bot_app))
    sent = bot_app.request_log.sent()[before:]
    assert {int(m["chat_id"]) for m in sent} == {STAFF_ID}
    assert len(_groups(bot_app, before)) == 1
    before = len(bot_app.request_log.sent())
    await digest_handlers.daily(CallbackContext(bot_app))  # nothing new since: nothing sent
    assert bot_app.request_log.sent()[before:] == []


async def test_stats_for_a_period_has_the_answer_rate_the_thumbs_up_rate_and_the_top_unanswered(bot_app, services):
    answer = await _say(bot_app, "eswatini immigration MOU", CITIZEN)
    await _press(bot_app, _data(answer, "v:up:")[0], CITIZEN)
    for q in ("when does the shilin night market close", "when does the shilin night market close?"):
        await _say(bot_app, q, OTHER)  # declined: no post is about it
    text = (await _say(bot_app, "/stats 7d", STAFF_ID))["text"]
    assert "Last 7d" in text and "33% (1 answered of 3 asked)" in text and "100% (1 / 1)" in text
    assert "shilin night market" in text and "×2" in text
    assert (await _say(bot_app, "/stats forever", STAFF_ID))["text"] == t("en", "staff_stats_period_bad")
    assert "Answer rate" in (await _say(bot_app, "/stats", STAFF_ID))["text"]


# -- the terminal -------------------------------------------------------------------------------


def test_the_cli_digest_and_add_question_answer_the_question_after(services, settings, monkeypatch, capsys):
    monkeypatch.setenv("BOT_DB_PATH", str(settings.db_path))
    for q in ("wedding registration for two women", "best beef noodle near taipei main station"):
        services.record_question(services.engine.answer(q), 1)
    services.flush_questions()
    assert main(["digest", "--period", "1d"]) == 0
    out = capsys.readouterr().out
    assert "2 question(s) in 2 group(s)" in out and "python -m bot digest add" in out

    def group_of(text: str) -> str:
        return next(line.split()[0].lstrip("#") for line in out.splitlines() if text in line)

    assert main(["digest", "out", group_of("beef noodle")]) == 0
    assert main(["digest", "add", group_of("wedding"), "p062"]) == 0
    assert "now answers it with p062" in capsys.readouterr().out
    assert main(["ask", "wedding registration for two women", "--json"]) == 0
    assert '"kind": "post", "results": [{"id": "p062"' in capsys.readouterr().out
    assert main(["explain", "wedding registration for two women"]) == 0
    shown = capsys.readouterr().out.split('"alternate_question"')[1]
    assert '"question": "wedding registration for two women"' in shown and '"matched": true' in shown
    assert main(["digest"]) == 0
    assert "No unanswered questions" in capsys.readouterr().out  # both groups were handled
    # "when is the drill": every drill post holds "drill" in its title; an alternate question adds nothing
    # that tells them apart, and staff are told so (which of the tied posts comes first is the encoder's call).
    assert main(["posts", "add-question", "p129", "when is the drill"]) == 0
    out = capsys.readouterr().out
    assert "Added to p129" in out and "finds another post as well" in out
    assert main(["posts", "add-question", "p99999", "anything"]) == 2
    assert main(["posts", "add-question", "p129", "#### ####"]) == 2  # nothing left once masked
    assert main(["posts", "remove-question", "p129", "When is the drill"]) == 0
    assert main(["posts", "remove-question", "p129", "When is the drill"]) == 1


async def test_adding_shows_other_questions_it_changes_and_undo_takes_it_back(bot_app, services):
    await _say(bot_app, "how many wedding registrations for two women", OTHER)  # asked earlier, declined, ignored by staff
    [earlier] = await _digest(bot_app)
    await _press(bot_app, _data(earlier, "dg:ign:")[0], STAFF_ID)
    await _say(bot_app, "wedding registration for two women", CITIZEN)
    [group] = await _digest(bot_app)
    await _press(bot_app, next(d for d in _data(group, "dg:add:") if d.endswith(":p062")), STAFF_ID)
    said = bot_app.request_log.sent()[-1]
    assert "1 other question(s)" in said["text"] and "how many wedding registrations for two women" in said["text"]
    [undo] = _data(said, "dg:undo:")
    assert declined_text() not in (await _say(bot_app, "how many wedding registrations for two women", OTHER))["text"]
    await _press(bot_app, undo, CITIZEN)  # not staff: refused, nothing undone
    assert services.store.post("p062").questions == ("wedding registration for two women",)
    await _press(bot_app, undo, STAFF_ID)
    assert "Undone" in bot_app.request_log.sent()[-1]["text"]
    assert services.store.post("p062").questions == ()
    assert declined_text() in (await _say(bot_app, "how many wedding registrations for two women", OTHER))["text"]
    assert ["wedding" in g["text"] for g in await _digest(bot_app)] == [True]  # open again
    await _press(bot_app, undo, STAFF_ID)  # twice: nothing more to undo
    assert bot_app.request_log.sent("answerCallbackQuery")[-1]["text"] == t("en", "expired")


def declined_text() -> str:
    return t("en", "none")
