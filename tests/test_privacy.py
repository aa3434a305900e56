"""Privacy by design: the question log keeps what staff need and nothing that leads back to a
person; "Clear this chat" clears the log too; the libraries' loggers print no names or texts;
the files the bot creates are the owner's only."""

from __future__ import annotations

import asyncio
import hashlib
import stat

from bot.opstore import SQLiteOperationalStore, hash_user
from bot.privacy import mask_personal
from bot.services import Services
from tests.conftest import TOKEN
from tests.emulator import BotAPIEmulator
from tests.test_logs import TOKEN as LOG_TOKEN
from tests.test_logs import start_bot, stop_bot


def test_digit_runs_of_four_or_more_and_e_mail_addresses_are_masked():
    assert mask_personal("call me on 0912-345-678 or mai.tran@example.com.tw") == "call me on ####-###-### or [email]"
    assert mask_personal("ARC number A123456789, room 12") == "ARC number A#########, room 12"
    assert mask_personal("+886 2 8195 8151") == "+### # #### ####"
    assert mask_personal("I live at No. 5 Lane 37") == "I live at No. 5 Lane 37"  # short numbers stay


async def test_the_question_log_keeps_masked_text_under_a_hash_not_derived_from_the_token(bot_app, services):
    await bot_app.process_update(bot_app.updates.text("my passport number is 3345678901, call 0912345678",
                                                      user_id=8801))
    services.flush_questions()
    [(text, user_hash, lang)] = services.ops._q("SELECT text, user_hash, lang FROM questions").fetchall()
    assert text == "my passport number is ##########, call ##########" and lang == "en"
    # Before: the salt was sha256(token)[:16], so anyone holding the token re-linked every question.
    token_salt = hashlib.sha256(TOKEN.encode()).hexdigest()[:16]
    assert user_hash not in (hash_user(8801, token_salt), hashlib.sha256(f"{token_salt}:8801".encode()).hexdigest()[:24])
    assert user_hash == hash_user(8801, services.ops.secret("question_salt"))
    path = services.settings.operational_path
    stored = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    assert b"3345678901" not in stored and b"0912345678" not in stored and b"8801" not in stored


def test_the_salt_is_random_per_state_database_and_kept(tmp_path, settings):
    first = SQLiteOperationalStore(tmp_path / "a.sqlite3")
    second = SQLiteOperationalStore(tmp_path / "b.sqlite3")
    salt = first.secret("question_salt")
    assert len(salt) == 64 and salt != second.secret("question_salt")
    first.close()
    second.close()
    assert SQLiteOperationalStore(tmp_path / "a.sqlite3").secret("question_salt") == salt


async def test_clear_this_chat_also_deletes_the_persons_logged_questions(bot_app, services):
    await bot_app.process_update(bot_app.updates.text("eswatini immigration MOU", user_id=8802))
    services.flush_questions()  # one written
    await bot_app.process_update(bot_app.updates.text("my boss took my passport and locks me in", user_id=8802))
    await bot_app.process_update(bot_app.updates.text("nauru police agreement", user_id=8803))  # someone else
    await bot_app.process_update(bot_app.updates.press("clear", user_id=8802, message_id=1002))
    services.flush_questions()
    rows = services.ops._q("SELECT text, user_hash FROM questions").fetchall()
    assert [text for text, _ in rows] == ["nauru police agreement"]
    assert rows[0][1] == services.user_hash(8803)


def test_schema_3_forgets_token_derived_hashes_and_masks_old_questions(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite3"
    ops = SQLiteOperationalStore(path)
    ops.log_question("placeholder", "post", None, None, None)
    ops.close()
    conn = sqlite3.connect(path)  # as a schema-2 database left it: text as typed, a token-derived hash
    conn.execute("UPDATE questions SET text = 'call 0912345678', user_hash = 'abcdef0123456789abcdef01'")
    conn.execute("DROP TABLE feed_sources")  # schema 4
    conn.execute("DROP TABLE skipped_updates")
    conn.execute("DROP TABLE handled_updates")
    conn.execute("DROP INDEX questions_user")
    conn.execute("ALTER TABLE questions DROP COLUMN lang")
    conn.execute("DROP TABLE digest_groups")  # schema 4
    conn.execute("DROP INDEX questions_ref")
    conn.execute("DROP INDEX questions_voted")
    for column in ("ref", "reason", "ids", "vote", "voted_at", "review"):
        conn.execute(f"ALTER TABLE questions DROP COLUMN {column}")
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    ops = SQLiteOperationalStore(path)
    assert ops._q("SELECT text, user_hash FROM questions").fetchall() == [("call ##########", None)]
    ops.close()


async def test_the_libraries_log_no_names_ids_or_texts_even_at_debug(tmp_path):
    user, name, handle = 7_654_321, "Zhangwei", "mai_secret_handle"
    question = "my employer keeps my passport zebra-quartz"
    async with BotAPIEmulator(tokens=[LOG_TOKEN]) as emu:
        outputs = {}
        for personal in ("", "1"):
            emu.make_user(user, first_name=name, username=handle)
            proc = await start_bot(emu, tmp_path, BOT_LOG_PERSONAL=personal)
            try:
                update = emu.make_text_update(user, question, first_name=name)
                update["message"]["from"]["username"] = handle
                emu.queue_updates([update])
                await emu.wait_for(lambda: emu.pending_updates() == 0 and len(emu.messages_to(user)) >= 1, 30,
                                   "the question answered")
                await asyncio.sleep(0.3)
            finally:
                code, outputs[personal] = await stop_bot(proc)
            assert code == 0, outputs[personal][-2000:]
            emu.clear_records()
    quiet, loud = outputs[""], outputs["1"]
    assert "telegram" in quiet and "DEBUG" in quiet  # the libraries did log, at DEBUG
    for secret in (name, handle, "zebra-quartz", str(user)):
        assert secret not in quiet, [line for line in quiet.splitlines() if secret in line][:3]
    assert name in loud and "zebra-quartz" in loud  # BOT_LOG_PERSONAL=1 shows them, for debugging


def test_files_the_bot_creates_are_the_owners_only(tmp_path, store_path):
    import dataclasses

    from bot.config import Settings
    from bot.lock import InstanceLock

    folder = tmp_path / "fresh"
    settings = dataclasses.replace(Settings(token=TOKEN, db_path=store_path),
                                   state_path=folder / "state" / "ops.sqlite3")
    svc = Services.open(settings)
    svc.ops.set_last_update_id(1, 1)
    svc.store.add_post({"id": "x", "title": "T", "date": "2024-01-01", "category": "news", "body": "B"},
                       id_prefix="m")
    with InstanceLock(settings.lock_path):
        lock_mode = stat.S_IMODE(settings.lock_path.stat().st_mode)
    state = settings.operational_path
    created = [state, state.with_name(state.name + "-wal"), state.with_name(state.name + "-shm"),
               store_path.with_name(store_path.name + ".write.lock")]
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in created if p.exists()}
    svc.close()
    assert len(modes) == 4 and set(modes.values()) == {0o600}, modes
    assert lock_mode == 0o600
    assert stat.S_IMODE(state.parent.stat().st_mode) == 0o700
