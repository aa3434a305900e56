"""Settings, the command line (console, ask, batch mode, import) and the callback grammar."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot import callbacks
from bot.config import ConfigError, load_settings
from bot.jsonstream import iter_json_list
from bot.render import fit
from tests.conftest import TOKEN

ROOT = Path(__file__).resolve().parent.parent


def run_bot(*args: str, env: dict | None = None, stdin: str = "", timeout: float = 60) -> subprocess.CompletedProcess:
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "BOT_"))}
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, input=stdin, capture_output=True,
                          text=True, timeout=timeout, env={**clean_env, **(env or {})})


@pytest.mark.parametrize("env, setting", [
    ({"TELEGRAM_BOT_TOKEN": "not-a-token"}, "TELEGRAM_BOT_TOKEN"),
    ({"BOT_STAFF_IDS": "12,abc"}, "BOT_STAFF_IDS"),
    ({"BOT_LOG_LEVEL": "LOUD"}, "BOT_LOG_LEVEL"),
    ({"TELEGRAM_API_BASE_URL": "ftp://x"}, "TELEGRAM_API_BASE_URL"),
    ({"BOT_WEBHOOK_URL": "http://insecure.example"}, "BOT_WEBHOOK_URL"),
    ({"BOT_BROADCAST_RATE": "fast"}, "BOT_BROADCAST_RATE"),
    ({"BOT_QUESTION_LOG_DAYS": "-1"}, "BOT_QUESTION_LOG_DAYS"),
])
def test_a_malformed_setting_is_named(env, setting):
    with pytest.raises(ConfigError, match=setting):
        load_settings(env)


def test_the_token_is_not_in_the_settings_repr():
    settings = load_settings({"TELEGRAM_BOT_TOKEN": TOKEN, "BOT_STAFF_IDS": "1, 2;3"})
    assert TOKEN not in repr(settings)
    assert settings.staff_ids == {1, 2, 3}


def test_malformed_setting_stops_start_up_with_one_line():
    result = run_bot("ask", "hello", env={"BOT_STAFF_IDS": "x"})
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "BOT_STAFF_IDS" in result.stderr


def test_without_a_token_the_bot_starts_the_console():
    result = run_bot(stdin="philippines MOU human trafficking\n/contact\n")
    assert result.returncode == 0
    assert "console" in result.stdout.lower()
    assert "Philippines" in result.stdout and "Xuzhou Rd" in result.stdout


def test_ask_answers_once():
    result = run_bot("ask", "eswatini immigration MOU", "--json")
    answer = json.loads(result.stdout)
    assert answer["kind"] == "post" and answer["results"][0]["id"] == "p016"


def test_batch_mode_speaks_the_scorer_protocol():
    lines = "".join(json.dumps({"id": f"q{i}", "q": q}) + "\n" for i, q in
                    enumerate(["what's new?", "👍", "nauru police agreement"]))
    result = run_bot("answer", "--jsonl", stdin=lines + "this line is not JSON\n")
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["id"] for a in answers] == ["q0", "q1", "q2", None]  # one answer per line, even a broken one
    assert answers[0]["kind"] == "list" and answers[1]["kind"] == "none" and answers[2]["results"][0]["id"] == "p056"
    assert answers[3]["kind"] == "none"
    assert all(isinstance(a["ms"], float) for a in answers)


def test_import_is_idempotent_and_reports_counts(store_path, tmp_path):
    records = [{"id": "i1", "title": "Imported post", "date": "2026-01-05", "category": "news", "body": "Text."},
               {"id": "i2", "title": "Bad date", "date": "05/01/2026", "category": "news", "body": "Text."},
               {"id": "c99", "name": "Test line", "phone": "1234"}]
    source = tmp_path / "in.json"
    source.write_text(json.dumps(records), encoding="utf-8")
    env = {"BOT_DB_PATH": str(store_path)}
    first = run_bot("import", str(source), env=env)
    assert "2 added, 0 updated, 0 unchanged, 1 rejected" in first.stdout
    assert "i2" in first.stderr and "'date'" in first.stderr
    second = run_bot("import", str(source), env=env)
    assert "0 added, 0 updated, 2 unchanged, 1 rejected" in second.stdout
    assert json.loads(run_bot("ask", "imported post", "--json", env=env).stdout)["results"][0]["id"] == "i1"


def test_a_broken_store_stops_start_up_with_a_clear_message(tmp_path):
    broken = tmp_path / "store.json"
    broken.write_text("{not json", encoding="utf-8")
    result = run_bot("ask", "hello", env={"BOT_DB_PATH": str(broken)})
    assert result.returncode != 0 and "not valid JSON" in result.stderr


def test_callback_data_round_trips_within_64_bytes():
    for kind, args in [("post", ("p055",)), ("news", ("2018", "3")), ("cat", ("trafficking", "0")),
                       ("share", ("p001",)), ("lang", ("zh",)), ("sub", ("workshops",))]:
        data = callbacks.encode(kind, *args)
        assert len(data.encode()) <= 64
        assert callbacks.decode(data) == callbacks.Action(kind, args)
    packed = callbacks.more_ids([f"s{i:06d}" for i in range(30)])
    assert len(packed.encode()) <= 64 and callbacks.decode(packed).kind == "more"
    for forged in ["p:", "p:../x", "n:20180:1", "x" * 65, "st:drop_table:;", None, ""]:
        assert callbacks.decode(forged) is None


def test_fit_cuts_on_a_word_and_keeps_tags_balanced():
    text = "<b>" + "word & " * 2000 + "</b>"
    from html import escape

    cut = fit(escape(text.replace("<b>", "").replace("</b>", "")).join(["<b>", "</b>"]))
    assert len(cut) <= 4096 and cut.endswith("</b>…") and "&am…" not in cut


def test_json_list_reader_reads_one_record_at_a_time():
    assert list(iter_json_list(' [ {"a": 1} , [2], "x" ] ')) == [{"a": 1}, [2], "x"]
    assert list(iter_json_list("[]")) == []
    for bad in ['{"a": 1}', "[1,", "[1] 2"]:
        with pytest.raises(ValueError):
            list(iter_json_list(bad))
