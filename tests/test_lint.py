"""Lint for staff: posts and alternate questions the matcher cannot tell apart, posts with no date, source or
Chinese title; the warning when staff add a post (the terminal and the /post conversation)."""

from __future__ import annotations

import json

import pytest

from bot import lint
from bot.alternates import add_question
from bot.cli import main
from bot.config import BUNDLED_STORE
from bot.flood import FloodGate
from bot.text import normalise
from tests.conftest import ROOT, SHARED, STAFF_ID


@pytest.fixture(autouse=True)
def roomy_flood_gate(request):
    if "bot_app" in request.fixturenames:
        request.getfixturevalue("bot_app").bot_data["flood"] = FloodGate(per_minute=6000, burst=500)


def _copy_of(services, post_id: str, new_id: str, **changes) -> None:
    record = {**services.store.post(post_id).to_record(), "id": new_id, "questions": [], **changes}
    report = services.store.upsert_posts([record])
    assert report.added == 1, report.rejected


def _kinds(findings) -> set[tuple[str, frozenset]]:
    return {(f.kind, frozenset(f.ids)) for f in findings}


def test_the_bundled_posts_are_told_apart_and_have_date_source_and_chinese_title(services):
    assert lint.lint_store(services.engine) == []


def test_lint_finds_posts_and_alternate_questions_too_close_and_missing_data(services):
    _copy_of(services, "p062", "x001")  # a second copy of a post: nothing tells them apart
    _copy_of(services, "p094", "x002", url="", i18n={})  # no source link, no Chinese title
    add_question(services.store, "p125", services.store.post("p062").title)  # finds p062 as well
    add_question(services.store, "p129", "disaster drill dates")
    add_question(services.store, "p097", "disaster drill dates")  # the same question on two posts
    found = lint.lint_store(services.engine)
    kinds = _kinds(found)
    assert ("close-posts", frozenset({"p062", "x001"})) in kinds
    assert ("no-source", frozenset({"x002"})) in kinds and ("no-zh-title", frozenset({"x002"})) in kinds
    assert any(kind == "close-question" and "p125" in ids for kind, ids in kinds)
    assert ("shared-question", frozenset({"p129", "p097"})) in kinds
    assert ("close-posts", frozenset({"p062", "x001"})) not in _kinds(lint.lint_store(services.engine, [
        services.engine.posts["p001"]]))
    assert all(f.line() for f in found)


def test_the_cli_lint_lists_findings_and_exits_1(services, settings, monkeypatch, capsys):
    monkeypatch.setenv("BOT_DB_PATH", str(settings.db_path))
    assert main(["lint"]) == 0 and "0 finding(s)" in capsys.readouterr().out
    _copy_of(services, "p062", "x001")
    assert main(["lint"]) == 1
    out = capsys.readouterr().out
    assert "p062 / x001: posts the matcher cannot tell apart" in out or "x001 / p062: posts the matcher" in out


def test_the_cli_post_add_warns_about_a_post_it_cannot_tell_apart(services, settings, monkeypatch, capsys):
    monkeypatch.setenv("BOT_DB_PATH", str(settings.db_path))
    title = services.store.post("p062").title
    assert main(["post", "add", "--title", title, "--body", "Registrations of the same day.",
                 "--category", "news"]) == 0
    err = capsys.readouterr().err
    assert "posts the matcher cannot tell apart" in err and "p062" in err
    assert "no source link" in err and "no Chinese title" in err


async def test_staff_publishing_a_post_get_the_lint_warning(bot_app, services):
    title = services.store.post("p062").title
    for text in ("/post", title, "Registrations of the same day."):
        await bot_app.process_update(bot_app.updates.text(text, user_id=STAFF_ID))
    await bot_app.process_update(bot_app.updates.press("st:pcat:news", user_id=STAFF_ID))
    await bot_app.process_update(bot_app.updates.text("/skip", user_id=STAFF_ID))
    confirm = [b["callback_data"] for row in bot_app.request_log.sent()[-1]["reply_markup"]["inline_keyboard"]
               for b in row if b["callback_data"].startswith("st:post_ok:")][0]
    await bot_app.process_update(bot_app.updates.press(confirm, user_id=STAFF_ID))
    published = bot_app.request_log.sent()[-1]["text"]
    assert "Published as" in published and "⚠️" in published and "p062" in published
    assert "no source link" in published


@pytest.mark.skipif(not (SHARED / "eval").is_dir(), reason="../shared/eval not present")
def test_the_bundled_data_holds_no_alternate_question_from_an_evaluation_file():
    asked = {normalise(json.loads(line)["q"]) for path in (SHARED / "eval").glob("*.jsonl")
             for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}
    store = json.loads(BUNDLED_STORE.read_text(encoding="utf-8"))  # read, never opened for writing
    sources = json.loads((ROOT / "data" / "sources" / "posts.json").read_text(encoding="utf-8"))
    alternates = [q for record in [*store["posts"].values(), *sources] for q in record.get("questions") or []]
    assert not {normalise(q) for q in alternates} & asked


@pytest.mark.skipif(not (SHARED / "eval").is_dir(), reason="../shared/eval not present")
def test_the_training_questions_of_the_answerability_model_hold_no_evaluation_question():
    """The fitted models are reported with held-out figures per dev file; a dev question copied into the
    training files would leak into the file it is held out from."""
    asked = {normalise(json.loads(line)["q"]) for path in (SHARED / "eval").glob("*.jsonl")
             for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}
    training = {normalise(json.loads(line)["q"]) for path in (ROOT / "data" / "training").glob("*.jsonl")
                for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}
    assert training and not training & asked
