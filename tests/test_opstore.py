"""The operational store: subscribers, broadcasts, the update offset and the question log."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from bot.opstore import (
    TOPICS,
    OperationalStore,
    OpStoreError,
    SQLiteOperationalStore,
    hash_user,
)


@pytest.fixture
def store(tmp_path):
    s = SQLiteOperationalStore(tmp_path / "ops.sqlite3")
    yield s
    s.close()


def test_implements_the_protocol_and_uses_wal(store):
    assert isinstance(store, OperationalStore)
    assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store._conn.execute("PRAGMA user_version").fetchone()[0] >= 1


# -- subscribers -----------------------------------------------------------------------------


def test_subscribe_is_idempotent_and_defaults_to_all_topics(store):
    first = store.subscribe(42)
    again = store.subscribe(42)
    assert first.topics == TOPICS
    assert again == first
    assert store.count_by_topic() == dict.fromkeys(TOPICS, 1)


def test_subscribe_with_topics_and_language(store):
    sub = store.subscribe(7, ["news", "workshop"], lang="zh")  # singular post category accepted
    assert sub.topics == ("news", "workshops")
    assert sub.lang == "zh"
    with pytest.raises(ValueError, match="unknown topic"):
        store.subscribe(8, ["sports"])
    assert store.subscriber(8) is None


def test_subscribe_again_without_topics_keeps_the_choice(store):
    store.subscribe(7, ["news"])
    assert store.subscribe(7).topics == ("news",)
    assert store.subscribe(7, ["anti-trafficking"]).topics == ("anti-trafficking",)


def test_set_topics(store):
    store.subscribe(1)
    assert store.set_topics(1, ["announcements"]).topics == ("announcements",)
    assert store.set_topics(2, ["news"]) is None
    assert store.set_topics(1, []).topics == ()
    assert list(store.iter_recipients("announcements")) == []


def test_unsubscribe(store):
    store.subscribe(1)
    assert store.unsubscribe(1) is True
    assert store.unsubscribe(1) is False
    assert store.subscriber(1) is None
    assert store.count_by_topic() == dict.fromkeys(TOPICS, 0)
    assert store._conn.execute("SELECT count(*) FROM subscriber_topics").fetchone()[0] == 0


def test_blocked_are_not_recipients_until_reactivated(store):
    for chat in (1, 2, 3):
        store.subscribe(chat)
    assert store.mark_blocked(2, "blocked") is True
    assert store.mark_blocked(2, "blocked") is False
    assert store.mark_blocked(99, "blocked") is False  # not a subscriber: nothing to do
    assert store.subscriber(2).status == "blocked"
    assert list(store.iter_recipients("news")) == [1, 3]
    assert store.count_by_topic()["news"] == 2

    assert store.reactivate(2) is True
    assert store.reactivate(2) is False
    assert store.subscriber(2).active
    assert store.subscriber(2).topics == TOPICS  # kept while blocked
    assert list(store.iter_recipients("news")) == [1, 2, 3]


def test_subscribe_reactivates_a_blocked_subscriber(store):
    store.subscribe(5)
    store.mark_blocked(5, "deactivated")
    assert store.subscribe(5).active


def test_counts_and_chunked_iteration(store):
    with store.transaction():
        for chat in range(1, 2501):
            store.subscribe(chat, ["news"] if chat % 2 else ["news", "workshops"])
    store.mark_blocked(10, "blocked")
    counts = store.count_by_topic()
    assert counts == {"news": 2499, "workshops": 1249, "anti-trafficking": 0, "announcements": 0}
    ids = list(store.iter_recipients("news"))
    assert len(ids) == 2499 and ids == sorted(ids) and 10 not in ids
    assert store.count_subscribers() == {"active": 2499, "blocked": 1}


def test_iteration_allows_writes_between_chunks(store):
    with store.transaction():
        for chat in range(1, 2101):
            store.subscribe(chat)
    seen = []
    for chat in store.iter_recipients("news"):
        seen.append(chat)
        if chat == 5:
            store.mark_blocked(1500, "blocked")  # a write while iterating
    assert len(seen) == 2099 and 1500 not in seen


def test_negative_group_chat_ids(store):
    store.subscribe(-1001234567890)
    store.subscribe(5)
    assert list(store.iter_recipients("news")) == [-1001234567890, 5]


def test_transaction_rolls_back_on_error(store):
    with pytest.raises(RuntimeError), store.transaction():
        store.subscribe(1)
        raise RuntimeError("boom")
    assert store.subscriber(1) is None


# -- broadcasts ------------------------------------------------------------------------------


def test_broadcast_lifecycle_and_counts(store):
    for chat in range(1, 6):
        store.subscribe(chat, ["news"])
    store.subscribe(6, ["workshops"])
    bid = store.create_broadcast(100, "news", "<b>Hello</b>", post_id="p1")
    info = store.broadcast(bid)
    assert (info.state, info.topic, info.text, info.post_id, info.materialised) == (
        "running",
        "news",
        "<b>Hello</b>",
        "p1",
        False,
    )
    assert store.unfinished_broadcasts()[0].id == bid

    assert store.materialise_recipients(bid) == 5
    store.subscribe(7, ["news"])
    assert store.materialise_recipients(bid) == 5  # snapshot taken once
    assert store.next_pending(bid, 3) == [1, 2, 3]

    assert store.mark_delivery(bid, 1, "sent") is True
    assert store.mark_delivery(bid, 1, "sent") is False  # already recorded
    store.mark_delivery(bid, 2, "failed", "blocked")
    store.mark_delivery(bid, 3, "failed", "chat_not_found")
    store.mark_delivery(bid, 4, "failed", "error: ValueError: x")
    info = store.broadcast(bid)
    assert (info.total, info.sent, info.failed, info.pending) == (5, 1, 3, 1)
    assert info.failed_by_reason == {"blocked": 1, "chat_not_found": 1, "error": 1}
    assert store.next_pending(bid, 10) == [5]
    assert store.delivery_report(bid) == {
        "total": 5,
        "delivered": 1,
        "blocked": 1,
        "not_found_or_deactivated": 1,
        "skipped": 0,
        "other_errors": 1,
        "pending": 1,
    }
    with pytest.raises(ValueError):
        store.mark_delivery(bid, 5, "pending")  # type: ignore[arg-type]

    store.set_progress_message(bid, 100, 555)
    store.set_broadcast_state(bid, "done")
    info = store.broadcast(bid)
    assert (info.progress_chat_id, info.progress_message_id, info.state) == (100, 555, "done")
    assert info.finished_at is not None
    assert store.unfinished_broadcasts() == []
    assert store.cancel_broadcast(bid) is False


def test_scheduled_broadcasts(store):
    now = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    later = store.create_broadcast(1, "news", "later", scheduled_for=(now + timedelta(hours=2)).isoformat())
    soon = store.create_broadcast(1, "news", "soon", scheduled_for="2025-03-01T16:30:00+08:00")  # 08:30 UTC
    assert [b.id for b in store.scheduled_broadcasts()] == [soon, later]
    assert [b.id for b in store.due_scheduled(now)] == [soon]
    assert store.broadcast(soon).scheduled_for == "2025-03-01T08:30:00.000000+00:00"
    assert store.unfinished_broadcasts() == []
    assert store.cancel_broadcast(later) is True
    assert store.broadcast(later).state == "cancelled"
    assert [b.id for b in store.scheduled_broadcasts()] == [soon]
    with pytest.raises(ValueError, match="time zone"):
        store.create_broadcast(1, "news", "naive", scheduled_for="2025-03-01T09:00:00")


def test_recent_broadcasts_and_unknown_ids(store):
    ids = [store.create_broadcast(1, "news", f"n{i}") for i in range(4)]
    assert [b.id for b in store.recent_broadcasts(2)] == ids[:1:-1]
    with pytest.raises(KeyError):
        store.broadcast(999)
    with pytest.raises(KeyError):
        store.materialise_recipients(999)
    with pytest.raises(ValueError):
        store.set_broadcast_state(ids[0], "paused")
    with pytest.raises(ValueError):
        store.create_broadcast(1, "weather", "x")


# -- update offset ---------------------------------------------------------------------------


def test_update_offset_survives_reopen(tmp_path):
    path = tmp_path / "ops.sqlite3"
    s = SQLiteOperationalStore(path)
    assert s.last_update_id(77) is None
    s.set_last_update_id(77, 1000)
    s.set_last_update_id(77, 1001)
    s.close()
    s.close()  # twice is fine
    s = SQLiteOperationalStore(path)
    assert s.last_update_id(77) == 1001
    assert s.last_update_id(78) is None  # the mark is the bot's, not the store's
    s.close()


def test_everything_survives_reopen(tmp_path):
    path = tmp_path / "ops.sqlite3"
    with SQLiteOperationalStore(path) as s:
        s.subscribe(1, ["news"])
        bid = s.create_broadcast(2, "news", "x")
        s.materialise_recipients(bid)
        s.mark_delivery(bid, 1, "sent")
    with SQLiteOperationalStore(path, synchronous="NORMAL") as s:
        assert s.subscriber(1).topics == ("news",)
        assert s.broadcast(bid).sent == 1


# -- question log ----------------------------------------------------------------------------


def test_question_log_keeps_no_user_ids(store):
    salted = hash_user(123456789, "secret-salt")
    assert salted != hash_user(123456789, "other-salt") and "123456789" not in salted
    store.log_question("How do I renew my ARC?", "post", "p12", 88.5, salted)
    store.log_question("asdf", "none", None, None, None)
    with pytest.raises(ValueError, match="salted"):
        store.log_question("x", "post", None, None, "123456789")  # a raw id is refused
    with pytest.raises(ValueError, match="salted"):
        store.log_question("x", "post", None, None, "Chen Wei")
    columns = [r[1] for r in store._conn.execute("PRAGMA table_info(questions)")]
    assert not {"user_id", "chat_id", "username", "name"} & set(columns)
    rows = store._conn.execute("SELECT * FROM questions").fetchall()
    assert all("123456789" not in str(v) for row in rows for v in row)


def test_questions_today_uses_the_taipei_day(store):
    # 2025-03-01 23:30 Taipei == 15:30 UTC; 2025-03-02 00:30 Taipei == 16:30 UTC (same UTC day).
    store.log_question("a", "post", "p1", 90.0, None, at=datetime(2025, 3, 1, 15, 30, tzinfo=UTC))
    store.log_question("b", "post", "p1", 90.0, None, at=datetime(2025, 3, 1, 16, 30, tzinfo=UTC))
    store.log_question("c", "contact", "c1", 80.0, None, at=datetime(2025, 3, 1, 17, 0, tzinfo=UTC))
    store.log_question("d", "none", None, None, None, at=datetime(2025, 3, 1, 18, 0, tzinfo=UTC))
    today = store.questions_today(datetime(2025, 3, 2, 1, 0, tzinfo=UTC))  # 09:00 on 2 March, Taipei
    assert (today["answered"], today["declined"], today["total"]) == (2, 1, 3)
    assert today["kind:post"] == 1 and today["kind:none"] == 1
    yesterday = store.questions_today(datetime(2025, 3, 1, 12, 0, tzinfo=UTC))
    assert (yesterday["answered"], yesterday["total"]) == (1, 1)


def test_purge_and_declined_review(store):
    now = datetime(2025, 6, 30, tzinfo=UTC)
    for days_ago, kind in ((40, "none"), (31, "post"), (5, "none"), (1, "post"), (0, "none")):
        store.log_question(f"q{days_ago}", kind, None, None, None, at=now - timedelta(days=days_ago))
    assert [q.text for q in store.declined_questions(10)] == ["q0", "q5", "q40"]
    assert store.purge_questions(30, now=now) == 2
    assert [q.text for q in store.declined_questions(10)] == ["q0", "q5"]
    assert store.purge_questions(0, now=now + timedelta(seconds=1)) == 3
    assert store.questions_today(now)["total"] == 0


# -- opening bad files -----------------------------------------------------------------------


def test_invalid_file_raises_a_clear_error(tmp_path):
    bad = tmp_path / "not-a-db.sqlite3"
    bad.write_bytes(b"this is a text file, not SQLite at all\n" * 100)
    with pytest.raises(OpStoreError, match="not a valid SQLite database") as info:
        SQLiteOperationalStore(bad)
    assert str(bad) in str(info.value)


def test_folder_and_foreign_database_are_refused(tmp_path):
    with pytest.raises(OpStoreError, match="folder"):
        SQLiteOperationalStore(tmp_path)
    foreign = tmp_path / "other.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE invoices (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(OpStoreError, match="another program"):
        SQLiteOperationalStore(foreign)


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "ops.sqlite3"
    SQLiteOperationalStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(OpStoreError, match="newer"):
        SQLiteOperationalStore(path)
