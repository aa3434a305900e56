"""One store, many writers: `python -m bot import` and `post add` beside the running bot process
(on the loopback emulator), then a staff /post in Telegram. Nothing is lost, no id is given twice,
and the bot answers with the imported posts within a few seconds, without a restart.

writers_kill_run (3 kills here, 20 in benchmarks/bench_crash.py): the bot is SIGKILLed again and
again while a CLI import loop and a staff member publishing through the bot both write the store.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.config import BUNDLED_STORE
from bot.store import PostStore
from tests.emulator import BotAPIEmulator
from tests.test_e2e import ROOT, TOKEN, start_bot, stop_bot

STAFF = 4545
IMPORTED = [{"id": f"imp{n}", "title": f"Kinmen ferry timetable notice number {word}", "date": f"2026-03-0{n}",
             "category": "announcement", "body": f"The {word} Kinmen ferry timetable notice of the ministry."}
            for n, word in enumerate(["alpha", "bravo", "charlie", "delta", "echo"], start=1)]


async def cli(*args: str, store) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "BOT_"))}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", *args, cwd=ROOT,
                                                env={**env, "BOT_DB_PATH": str(store)},
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode()


def _buttons(message: dict) -> list[str]:
    return [b.get("callback_data", "") for row in (message.get("reply_markup") or {}).get("inline_keyboard", [])
            for b in row]


async def staff_post(emu: BotAPIEmulator, title: str, step_timeout: float = 10.0) -> str | None:
    """Publish one post through the bot's /post conversation; the id it got, or None if the bot did
    not get through it (killed meanwhile)."""
    def newest(predicate) -> dict | None:
        return next((m for m in reversed(emu.messages_to(STAFF)) if predicate(m)), None)

    async def after(action, predicate) -> dict | None:
        seen = len(emu.messages_to(STAFF))
        await action()
        try:
            await emu.wait_for(lambda: any(predicate(m) for m in emu.messages_to(STAFF)[seen:]), step_timeout)
        except TimeoutError:
            return None
        return newest(predicate)

    async def say(text: str):
        await emu.send_text(STAFF, text)

    if await after(lambda: say("/post"), lambda m: "step 1 of 5" in m["text"]) is None:
        return None
    if await after(lambda: say(title), lambda m: "Step 2 of 5" in m["text"]) is None:
        return None
    category = await after(lambda: say("Posted from Telegram."), lambda m: "Step 3 of 5" in m["text"])
    picks = [d for d in _buttons(category or {}) if d.endswith(":announcement")]
    if not picks:
        return None
    if await after(lambda: emu.press_button(STAFF, category, picks[0]), lambda m: "Step 4 of 5" in m["text"]) is None:
        return None
    confirm = await after(lambda: say("/skip"), lambda m: any(d.startswith("st:post_ok:") for d in _buttons(m)))
    oks = [d for d in _buttons(confirm or {}) if d.startswith("st:post_ok:")]
    if not oks:
        return None
    published = await after(lambda: emu.press_button(STAFF, confirm, oks[0]), lambda m: "Published as" in m["text"])
    found = re.search(r"Published as <b>(\w+)</b>", published["text"]) if published else None
    return found.group(1) if found else None


@dataclass
class WritersKillResult:
    kills: int
    imports: int  # CLI imports that said they were stored
    staff_posts: int  # posts the bot said it published
    lost_imported: int
    lost_staff: int
    unreadable: bool
    seconds: float
    log_tail: str = ""
    moments: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"kills={self.kills} cli_imports={self.imports} staff_posts={self.staff_posts} "
                f"lost_imported_posts={self.lost_imported} lost_staff_posts={self.lost_staff} "
                f"unreadable={self.unreadable} seconds={self.seconds:.1f}")


async def writers_kill_run(workdir: Path, *, kills: int = 20, seed: int = 1, per_import: int = 5,
                           say: Callable[[str], None] = lambda _: None) -> WritersKillResult:
    """SIGKILL the bot `kills` times at random moments while `python -m bot import` runs in a loop beside
    it and a staff member publishes through it; then count acknowledged posts missing from the store."""
    rng = random.Random(seed)
    store = workdir / "store.json"
    shutil.copy(BUNDLED_STORE, store)
    acked_imports: set[str] = set()
    acked_staff: dict[str, str] = {}  # id -> title
    started = time.monotonic()
    done = asyncio.Event()
    log_path = workdir / "bot.log"

    async def importer() -> None:
        batch = 0
        while not done.is_set():
            batch += 1
            records = [{"id": f"imp{batch}x{j}", "title": f"Imported notice {batch} {j}", "date": "2026-04-01",
                        "category": "news", "body": f"Import {batch} record {j}."} for j in range(per_import)]
            source = workdir / f"batch{batch % 2}.json"
            source.write_text(json.dumps(records), encoding="utf-8")
            code, out = await cli("import", str(source), store=store)
            if code == 0 and f"{per_import} added" in out:
                acked_imports.update(r["id"] for r in records)

    async def staff() -> None:
        n = 0
        while not done.is_set():
            n += 1
            title = f"Staff bench post {n}"
            published = await staff_post(emu, title, step_timeout=4.0)
            if published:
                acked_staff[published] = title

    async with BotAPIEmulator(tokens=[TOKEN]) as emu:
        env = {**os.environ, "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": emu.base_url,
               "BOT_DB_PATH": str(store), "BOT_STAFF_IDS": str(STAFF), "BOT_LOG_LEVEL": "INFO",
               "BOT_USER_MESSAGES_PER_MINUTE": "10000"}
        moments: list[str] = []

        async def launch():
            with open(log_path, "ab") as log:
                return await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", cwd=ROOT, env=env,
                                                            stdout=log, stderr=asyncio.subprocess.STDOUT)

        workers = [asyncio.create_task(importer()), asyncio.create_task(staff())]
        try:
            for n in range(kills):
                proc = await launch()
                await asyncio.sleep(rng.uniform(2.0, 4.0))  # started (1-2 s with its lexicons), then busy writing
                proc.send_signal(signal.SIGKILL)
                await proc.wait()
                moments.append(f"{len(acked_imports) // per_import} imports, {len(acked_staff)} staff posts so far")
                say(f"kill {n + 1}/{kills}: {moments[-1]}")
            proc = await launch()
            await asyncio.sleep(3.0)  # let the last staff post and import finish against a live bot
        finally:
            done.set()
            await asyncio.wait(workers, timeout=30)
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), 20)
                except TimeoutError:
                    proc.kill()
    unreadable = False
    try:
        posts = {p.id: p for p in PostStore(store).posts()}
    except Exception:  # noqa: BLE001 - counted
        posts, unreadable = {}, True
    lost_imported = len(acked_imports - set(posts))
    lost_staff = sum(1 for i, title in acked_staff.items() if i not in posts or posts[i].title != title)
    tail = log_path.read_text(errors="replace")[-3000:] if log_path.exists() else ""
    return WritersKillResult(len(moments), len(acked_imports) // per_import, len(acked_staff), lost_imported,
                             lost_staff, unreadable, time.monotonic() - started, tail, moments)


async def test_killing_the_bot_while_the_cli_imports_beside_it_loses_no_post(tmp_path):
    result = await writers_kill_run(tmp_path, kills=3, seed=5)
    print(result.line())
    assert result.imports >= 2 and result.staff_posts >= 1, result.line()
    assert (result.lost_imported, result.lost_staff, result.unreadable) == (0, 0, False), \
        f"{result.line()}\n{result.log_tail}"


async def test_the_cli_writing_beside_the_bot_loses_nothing(tmp_path):
    store = tmp_path / "store.json"
    source = tmp_path / "ferries.json"
    source.write_text(json.dumps(IMPORTED), encoding="utf-8")
    async with BotAPIEmulator(tokens=[TOKEN]) as emu:
        proc = await start_bot(emu, tmp_path, BOT_STAFF_IDS=str(STAFF))
        try:
            await emu.send_text(7101, "/start")
            await emu.wait_for_messages(7101, 1, timeout=30)
            (code_import, out_import), (code_add, out_add) = await asyncio.gather(
                cli("import", str(source), store=store),
                cli("post", "add", "--title", "Terminal notice about the Matsu ferry", "--body",
                    "Posted from the terminal.", "--category", "announcement", store=store))
            assert (code_import, code_add) == (0, 0), out_import + out_add
            assert "5 added" in out_import and "published m0001" in out_add

            # The running bot sees the new posts within a few seconds, without a restart.
            answered = False
            for _ in range(20):
                emu.clear_records()
                await emu.send_text(7101, "Kinmen ferry timetable notice charlie")
                [reply] = await emu.wait_for_messages(7101, 1, timeout=10)
                if "number charlie" in reply["text"]:
                    answered = True
                    break
                await asyncio.sleep(0.5)
            assert answered, reply["text"][:200]

            # A staff member publishes in Telegram: the store is re-read under the lock, the id is new.
            assert await staff_post(emu, "Staff notice about the Penghu ferry") == "m0002"
        finally:
            code, log = await stop_bot(proc)
    assert code == 0, log[-3000:]
    posts = {p.id: p for p in PostStore(store).posts()}
    assert {p["id"] for p in IMPORTED} <= set(posts)  # no imported post deleted
    assert posts["m0001"].title == "Terminal notice about the Matsu ferry"  # the CLI post kept
    assert posts["m0002"].title == "Staff notice about the Penghu ferry"  # the staff post got its own id
    assert len(posts) == 131 + 5 + 2
