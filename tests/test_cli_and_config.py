"""Settings, the command line (console, ask, batch mode, import) and the callback grammar."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
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


# -- one-line failures, a closed pipe, the console's /language and /subscribe ------------------------


@contextlib.contextmanager
def read_only_folder(tmp_path: Path, *, with_state: bool = False):
    """A folder holding a copy of the bundled store (and a valid state database) that nobody may write:
    chmod for an ordinary user; for root, who ignores permissions, a tmpfs remounted read-only."""
    from bot.config import BUNDLED_STORE
    from bot.opstore import SQLiteOperationalStore

    folder = tmp_path / "ro"
    folder.mkdir()
    root = os.geteuid() == 0
    if root and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)],
                               capture_output=True).returncode != 0:
        pytest.skip("root cannot be stopped by permissions and no file system can be mounted here")
    try:
        shutil.copy(BUNDLED_STORE, folder / "store.json")
        if with_state:
            SQLiteOperationalStore(folder / "store.state.sqlite3").close()
        if root:
            subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        else:
            for p in folder.iterdir():
                p.chmod(0o444)
            folder.chmod(0o555)
        yield folder
    finally:
        if root:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)
        else:
            folder.chmod(0o755)


def one_line(result: subprocess.CompletedProcess) -> str:
    """The output of a failed command: exactly one line, no traceback."""
    out = (result.stdout + result.stderr).strip()
    assert result.returncode != 0, out
    assert "Traceback" not in out and out.count("\n") == 0, out
    return out


def test_a_store_of_random_bytes_is_one_line(tmp_path):
    store = tmp_path / "store.json"
    store.write_bytes(os.urandom(4096))
    for args, env in ((("ask", "hello"), {}), (("run",), {"TELEGRAM_BOT_TOKEN": TOKEN})):
        assert "not a UTF-8 JSON file" in one_line(run_bot(*args, env={"BOT_DB_PATH": str(store), **env}))


def test_a_read_only_folder_is_one_line_naming_the_cause(tmp_path):
    source = tmp_path / "in.json"
    source.write_text(json.dumps([{"id": "i1", "title": "T", "date": "2026-01-05", "category": "news", "body": "B"}]))
    with read_only_folder(tmp_path) as folder:
        env = {"BOT_DB_PATH": str(folder / "store.json")}
        assert "lock" in one_line(run_bot("import", str(source), env=env))
        assert "lock" in one_line(run_bot("run", env={**env, "TELEGRAM_BOT_TOKEN": TOKEN}))


def test_a_valid_state_database_in_a_read_only_folder_is_not_called_invalid(tmp_path):
    with read_only_folder(tmp_path, with_state=True) as folder:
        line = one_line(run_bot("subscribers", env={"BOT_DB_PATH": str(folder / "store.json")}))
    assert "cannot write operational store" in line and "not a valid SQLite database" not in line


def test_webhook_mode_without_a_secret_is_one_line(store_path):
    line = one_line(run_bot("run", "--webhook", env={"BOT_DB_PATH": str(store_path), "TELEGRAM_BOT_TOKEN": TOKEN}))
    assert "BOT_WEBHOOK_SECRET" in line


def test_telegram_unreachable_is_one_line(store_path):
    line = one_line(run_bot("run", env={"BOT_DB_PATH": str(store_path), "TELEGRAM_BOT_TOKEN": TOKEN,
                                        "TELEGRAM_API_BASE_URL": "http://127.0.0.1:9/bot"}))
    assert "cannot reach" in line and TOKEN not in line


def test_a_reader_that_stops_reading_ends_the_command_quietly():
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head` that has already exited
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "BOT_"))}
    try:
        result = subprocess.run([sys.executable, "-m", "bot", "ask", "eswatini immigration MOU"], cwd=ROOT,
                                stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60, env=clean_env)
    finally:
        os.close(write_end)
    assert result.stderr == "" and result.returncode == 141


def test_the_console_switches_language_and_explains_subscriptions():
    result = run_bot("chat", stdin="/language\n2\n/subscribe\n/language en\n/unsubscribe\n")
    out = result.stdout
    assert result.returncode == 0
    assert "語言已設定為繁體中文" in out and "Language set to English" in out
    assert "請在 Telegram 開啟機器人並傳送 /subscribe" in out and "Subscribe in Telegram" in out
    assert "/workshops" not in out  # not the help text
