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


def kill_writer_repeatedly(tmp_path: Path, kills: int, seed: int) -> tuple[int, int, int]:
    """Start the writer, SIGKILL it at random moments, check the file each time.

    Returns (kills, unreadable files, acknowledged writes lost)."""
    rng = random.Random(seed)
    path = tmp_path / "kill.json"
    PostStore(path, create=True).close()
    acked: set[str] = set()
    unreadable = lost = 0
    last = 0
    for _ in range(kills):
        proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "store_writer.py"), str(path), str(last)],
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
        last = max([last] + [int(i[1:]) for i in have])
        store.close()
    leftovers = [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    for p in leftovers:  # a killed write leaves its temp file; it is never read
        p.unlink()
    return kills, unreadable, lost


def test_sigkill_during_writes_never_corrupts_or_loses_an_acknowledged_write(tmp_path):
    kills, unreadable, lost = kill_writer_repeatedly(tmp_path, kills=20, seed=7)
    assert (unreadable, lost) == (0, 0)
