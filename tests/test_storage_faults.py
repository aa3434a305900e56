"""Storage errors degrade, they do not kill: the bot process with its state database on a disk
that fills up keeps answering, logs one line, shows the condition in /stats and `doctor`, and
recovers by itself when space returns.

The disk is real: a 2 MB tmpfs when this user may mount one (root in CI and on the development
machine), else the same failure from the kernel by lowering the bot process's file size limit
(RLIMIT_FSIZE, through prlimit) so that every write that grows a file fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import subprocess
import sys
from pathlib import Path

from tests.emulator import BotAPIEmulator
from tests.test_e2e import ROOT, TOKEN, start_bot, stop_bot

STAFF = 4343


@contextlib.contextmanager
def tiny_disk(where: Path):
    """A 2 MB tmpfs at `where` (yields True), or the folder as it is if mounting is not allowed (False)."""
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(where)],
                             capture_output=True).returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(folder: Path) -> Path:
    """Write a file until the disk says it is full (ENOSPC)."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"x" * 65536)
    except OSError:
        pass
    try:
        while True:
            os.write(fd, b"x")
    except OSError:
        pass
    os.close(fd)
    return filler


def doctor_lines(env: dict) -> list[str]:
    result = subprocess.run([sys.executable, "-m", "bot", "doctor"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60, env={k: v for k, v in env.items() if k != "TELEGRAM_BOT_TOKEN"})
    return result.stdout.splitlines()


async def test_a_full_disk_under_the_state_database_does_not_stop_the_bot(tmp_path):
    disk = tmp_path / "disk"
    with tiny_disk(disk) as mounted:
        state = disk / "state.sqlite3"
        extra = {"BOT_STATE_PATH": str(state), "BOT_STAFF_IDS": str(STAFF)}
        async with BotAPIEmulator(tokens=[TOKEN]) as emu:
            proc = await start_bot(emu, tmp_path, **extra)
            try:
                await emu.send_text(6101, "/start")
                await emu.wait_for_messages(6101, 1, timeout=30)

                # The disk fills up.
                if mounted:
                    filler = fill(disk)
                else:
                    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
                    resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (1, hard))
                questions = ["eswatini immigration MOU", "nauru police agreement", "workshops", "hotline"]
                for n, question in enumerate(questions, start=2):
                    await emu.send_text(6101, question)
                    await emu.wait_for_messages(6101, n, timeout=15)
                assert proc.returncode is None  # still up, all four answered
                await emu.send_text(6101, "/subscribe")  # a write the person asked for: said honestly
                replies = await emu.wait_for_messages(6101, 6, timeout=15)
                assert "cannot save anything right now" in replies[-1]["text"]
                await emu.send_text(STAFF, "/stats")
                [stats] = await emu.wait_for_messages(STAFF, 1, timeout=15)
                assert "Storage" in stats["text"] and "the state database" in stats["text"]
                if mounted:
                    env = {**os.environ, "BOT_DB_PATH": str(tmp_path / "store.json"), **extra}
                    assert any(line.startswith("problem: storage: only") for line in doctor_lines(env))

                # Space returns: the bot recovers by itself.
                if mounted:
                    filler.unlink()
                else:
                    resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (hard, hard))
                last = await emu.send_text(6101, "contact")
                await emu.wait_for_messages(6101, 7, timeout=15)
                await emu.wait_for(lambda: emu.pending_updates() == 0, 10, "confirmed")
            finally:
                code, log = await stop_bot(proc)
        assert code == 0, log[-3000:]
        failures = [line for line in log.splitlines() if "ERROR bot.health" in line]
        assert len(failures) == 1, failures  # one line when it starts, not one per message
        assert "works again" in log
        assert "Traceback" not in log

        from bot.opstore import SQLiteOperationalStore

        ops = SQLiteOperationalStore(state)
        try:
            assert ops.last_update_id(int(TOKEN.split(":")[0])) == last["update_id"]  # written once space returned
        finally:
            ops.close()


async def test_doctor_names_a_read_only_disk(tmp_path):
    disk = tmp_path / "disk"
    with tiny_disk(disk) as mounted:
        if not mounted:
            import pytest

            pytest.skip("cannot mount a file system here; the read-only case needs one")
        from bot.config import BUNDLED_STORE

        (disk / "store.json").write_bytes(BUNDLED_STORE.read_bytes())
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        lines = doctor_lines({**os.environ, "BOT_DB_PATH": str(disk / "store.json")})
        assert any("read-only file system" in line for line in lines if line.startswith("problem: storage")), lines
        await asyncio.sleep(0)


def test_the_condition_ends_by_itself_when_space_returns_even_with_nothing_to_write(tmp_path, store_path):
    import dataclasses

    import pytest

    from bot.config import Settings
    from bot.services import Services

    disk = tmp_path / "disk"
    with tiny_disk(disk) as mounted:
        if not mounted:
            pytest.skip("cannot mount a file system here (the process test covers the file size limit instead)")
        settings = dataclasses.replace(Settings(db_path=store_path), state_path=disk / "state.sqlite3")
        services = Services.open(settings)
        try:
            filler = fill(disk)
            services.retry_state()  # nothing wrong known yet: no write tried
            assert not services.health.degraded("state")
            try:
                services.ops.set_user_language(1, "zh")
            except Exception as exc:  # what a handler meets; its error handler reports it so
                services.health.failed("state", exc)
            assert services.health.degraded("state")
            services.retry_state()  # still full: still degraded
            assert services.health.degraded("state")
            filler.unlink()
            services.retry_state()  # the periodic job: one small write, and the condition is over
            assert not services.health.degraded("state")
        finally:
            services.close()
