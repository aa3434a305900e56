"""The post store: validation, atomic writes, and no lost acknowledged write under SIGKILL."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.models import RecordError
from bot.store import PostStore, StoreError

ROOT = Path(__file__).resolve().parent.parent
GOOD = {"id": "x1", "title": "A title", "date": "2024-05-01", "category": "news", "body": "Body text."}


def test_bundled_store_has_the_seed_post_and_the_corpus(store_path):
    store = PostStore(store_path)
    assert len(store.posts()) == 131 and len(store.contacts()) == 15
    seed = store.post("p055")
    assert seed.date == "2018-09-17"
    assert seed.title.startswith("Overseas scholars and specialists gathered at the workshop")
    assert "Best viewed with IE" not in seed.body and "Filter by post date" not in seed.body
    assert "zero time difference" in seed.body


def test_upsert_is_idempotent_and_reports_counts(tmp_path):
    store = PostStore(tmp_path / "s.json", create=True)
    assert store.upsert_posts([GOOD]).added == 1
    again = store.upsert_posts([GOOD])
    assert (again.added, again.updated, again.unchanged) == (0, 0, 1)
    changed = store.upsert_posts([{**GOOD, "title": "New title"}])
    assert changed.updated == 1 and store.post("x1").title == "New title"
    assert store.post("x1").imported_at and store.post("x1").updated_at


@pytest.mark.parametrize("bad, field", [
    ({**GOOD, "date": "2024-13-01"}, "date"),
    ({**GOOD, "date": "yesterday"}, "date"),
    ({k: v for k, v in GOOD.items() if k != "title"}, "title"),
    ({**GOOD, "category": "gossip"}, "category"),
    ({**GOOD, "id": "bad id!"}, "id"),
    ({**GOOD, "url": "javascript:alert(1)"}, "url"),
])
def test_bad_records_are_rejected_naming_record_and_field(tmp_path, bad, field):
    store = PostStore(tmp_path / "s.json", create=True)
    report = store.upsert_posts([bad])
    assert report.added == 0 and len(report.rejected) == 1
    assert f"'{field}'" in report.rejected[0]
    assert store.posts() == []


def test_duplicate_ids_in_one_import_are_rejected(tmp_path):
    store = PostStore(tmp_path / "s.json", create=True)
    report = store.upsert_posts([GOOD, {**GOOD, "title": "Other"}])
    assert report.added == 1 and "repeats" in report.rejected[0]


def test_add_post_refuses_a_taken_id(tmp_path):
    store = PostStore(tmp_path / "s.json", create=True)
    store.add_post(GOOD)
    with pytest.raises(RecordError, match="already used"):
        store.add_post(GOOD)


def test_non_ascii_text_stays_readable_on_disk(tmp_path):
    path = tmp_path / "s.json"
    store = PostStore(path, create=True)
    store.upsert_posts([{**GOOD, "title": "內政部人口販運研討會"}])
    assert "內政部人口販運研討會" in path.read_text(encoding="utf-8")


def test_a_corrupt_store_stops_start_up_instead_of_starting_empty(tmp_path):
    path = tmp_path / "s.json"
    path.write_text('{"posts": {"1": {"id": "x1", "tit', encoding="utf-8")
    with pytest.raises(StoreError, match="not valid JSON"):
        PostStore(path)
    assert path.read_text(encoding="utf-8").startswith('{"posts"')  # left for the operator to restore


def test_a_missing_store_is_an_error_not_a_new_empty_one(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        PostStore(tmp_path / "nope.json")


def test_a_store_with_an_invalid_record_names_it(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"posts": {"1": {**GOOD, "date": "2024-02-30"}}}), encoding="utf-8")
    with pytest.raises(StoreError, match="'date'"):
        PostStore(path)


def test_change_listeners_see_new_posts(tmp_path):
    store = PostStore(tmp_path / "s.json", create=True)
    seen = []
    store.on_change(lambda: seen.append(len(store.posts())))
    store.add_post(GOOD)
    assert seen == [1]


def kill_writer_repeatedly(tmp_path: Path, kills: int, seed: int, mode: str = "mixed") -> tuple[int, int, int, int]:
    """Start the writer, SIGKILL it at random moments, check the file each time.

    Returns (kills, unreadable files, acknowledged writes lost, temp files left at the end). Each
    check opens the store, which removes the temp file a killed write left."""
    rng = random.Random(seed)
    path = tmp_path / "kill.json"
    PostStore(path, create=True).close()
    acked: set[str] = set()
    unreadable = lost = 0
    last = 0
    for _ in range(kills):
        proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "store_writer.py"), str(path), str(last), mode],
                                stdout=subprocess.PIPE, text=True)
        time.sleep(0.15 + rng.random() * 0.25)
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        for line in out.splitlines():
            if line.startswith("ack "):
                acked.add(f"w{line.split()[1]}")
                last = max(last, int(line.split()[1]))
        try:
            store = PostStore(path)
        except StoreError:
            unreadable += 1
            continue
        have = {p.id for p in store.posts()}
        lost += len(acked - have)
        if mode == "import":  # every batch all there or not there at all: posts w<n>, v<n> and contact k<n>
            contacts = {c.id for c in store.contacts()}
            for n in {int(i[1:]) for i in have if i[0] in "wv"} | {int(i[1:]) for i in contacts}:
                if {f"w{n}", f"v{n}"} - have or f"k{n}" not in contacts:
                    lost += 1
        last = max([last] + [int(i[1:]) for i in have])
        store.close()
    leftovers = [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    return kills, unreadable, lost, len(leftovers)


def test_sigkill_during_writes_never_corrupts_or_loses_an_acknowledged_write(tmp_path):
    kills, unreadable, lost, leftovers = kill_writer_repeatedly(tmp_path, kills=20, seed=7)
    assert (unreadable, lost) == (0, 0)
    assert leftovers == 0  # killed writes leave temp files; the next writer or reader removes them


def test_sigkill_during_imports_leaves_all_of_an_import_or_none(tmp_path):
    # An import of posts and contacts is one write: never the posts without the contacts.
    kills, unreadable, lost, _ = kill_writer_repeatedly(tmp_path, kills=12, seed=11, mode="import")
    assert (unreadable, lost) == (0, 0)


# -- several writers: the bot, `python -m bot import`, `post add` -----------------------------------


def test_two_writers_on_one_file_keep_each_others_writes(tmp_path):
    path = tmp_path / "s.json"
    bot = PostStore(path, create=True)  # think: the running bot's store
    cli = PostStore(path)  # and an import beside it
    cli.upsert_posts([{**GOOD, "id": f"i{n}", "title": f"Imported {n}"} for n in range(5)])
    bot.upsert_posts([{**GOOD, "id": "x9", "title": "The bot's own write"}])  # from a stale snapshot
    on_disk = {p.id for p in PostStore(path).posts()}
    assert on_disk == {"i0", "i1", "i2", "i3", "i4", "x9"}
    assert {p.id for p in bot.posts()} == on_disk  # the bot caught up while it wrote


def test_new_post_ids_are_allocated_under_the_lock(tmp_path):
    path = tmp_path / "s.json"
    bot, cli = PostStore(path, create=True), PostStore(path)
    first = cli.add_post({**GOOD, "id": "ignored", "title": "From the terminal"}, source="cli", id_prefix="m")
    second = bot.add_post({**GOOD, "id": "ignored", "title": "From Telegram"}, id_prefix="m")
    assert (first.id, second.id) == ("m0001", "m0002")
    posts = {p.id: p.title for p in PostStore(path).posts()}
    assert posts == {"m0001": "From the terminal", "m0002": "From Telegram"}


def test_refresh_sees_another_processs_write_and_tells_the_listeners(tmp_path):
    path = tmp_path / "s.json"
    store = PostStore(path, create=True)
    seen = []
    store.on_change(lambda: seen.append(len(store.posts())))
    assert store.refresh() is False  # nothing changed: one stat(), no re-read
    source = tmp_path / "in.json"
    source.write_text(json.dumps([{**GOOD, "id": "i1"}, {"id": "c9", "name": "Line", "phone": "1955"}]))
    result = subprocess.run([sys.executable, "-m", "bot", "import", str(source)], cwd=ROOT, capture_output=True,
                            text=True, env={**os.environ, "BOT_DB_PATH": str(path)}, timeout=60)
    assert result.returncode == 0, result.stderr
    assert store.refresh() is True and seen == [1] and store.contact("c9") is not None
    assert store.refresh() is False


def test_an_import_of_posts_and_contacts_is_one_write(tmp_path):
    store = PostStore(tmp_path / "s.json", create=True)
    before = store.version
    posts, contacts = store.import_records([GOOD], [{"id": "c1", "name": "Line", "phone": "1955"}])
    assert (posts.added, contacts.added) == (1, 1) and store.version == before + 1


def test_the_file_records_its_layout_and_a_newer_one_is_refused(tmp_path):
    path = tmp_path / "s.json"
    PostStore(path, create=True).add_post(GOOD)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["_meta"]["1"] == {"schema": 1, "version": 1}
    data["_meta"]["1"]["schema"] = 2
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(StoreError, match="newer than this program"):
        PostStore(path)


def test_random_bytes_are_a_store_error_not_a_crash(tmp_path):
    path = tmp_path / "s.json"
    path.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(StoreError, match="not a UTF-8 JSON file"):
        PostStore(path)


def test_new_files_and_folders_are_the_owners_only(tmp_path):
    path = tmp_path / "new" / "s.json"
    PostStore(path, create=True).add_post(GOOD)
    assert (path.stat().st_mode & 0o777, path.parent.stat().st_mode & 0o777) == (0o600, 0o700)
    assert (path.with_name("s.json.write.lock").stat().st_mode & 0o777) == 0o600
