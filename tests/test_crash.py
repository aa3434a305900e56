"""Crash test: `python -m bot` SIGKILLed at random moments while it works through a backlog.

The emulator holds a backlog of text messages from many users; the bot is killed with SIGKILL
several times and restarted each time, then left to drain. Each user asks k different questions
whose answers are k different posts, so every (chat, reply text) pair is expected exactly once:
a missing pair is a lost message, an extra copy a duplicate. The polling loop (bot/polling.py)
records an update as handled only after its reply was sent and confirms it to Telegram only after
that: 0 lost, at most one duplicate per kill. The long version (20 kills) is benchmarks/bench_crash.py.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bot.config import BUNDLED_STORE
from tests.emulator import BotAPIEmulator

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "4440003333:AAH_crashTestToken-abcdefghijklmnop"
FIRST_USER = 20_000


def distinct_questions(k: int) -> list[str]:
    """k post titles that the engine answers with that very post, each with a different reply text."""
    from bot.answer import TAIPEI, AnswerEngine
    from bot.render import render_answer
    from bot.store import PostStore

    store = PostStore(BUNDLED_STORE)
    try:
        engine = AnswerEngine(store.posts(), store.contacts())
    finally:
        store.close()
    now = datetime.now(TAIPEI)
    chosen: dict[str, str] = {}  # reply text -> question
    for post in sorted(engine.posts.values(), key=lambda p: p.id):
        answer = engine.answer(post.title, now=now)
        if answer.kind != "post" or answer.hits[0].id != post.id:
            continue
        text = render_answer(answer, engine.posts, engine.contacts, lang="en", now=now).text
        chosen.setdefault(text, post.title)
        if len(chosen) == k:
            return list(chosen.values())
    raise RuntimeError(f"only {len(chosen)} posts answer their own title; need {k}")


@dataclass
class CrashResult:
    updates: int
    kills: int
    lost: int
    duplicates: int
    unexpected: int  # replies that answer no queued question (an apology after an error, say)
    seconds: float
    pending_after: int
    exit_code: int | None
    kill_moments: list[str] = field(default_factory=list)
    log_tail: str = ""

    def line(self) -> str:
        return (f"updates={self.updates} kills={self.kills} lost={self.lost} duplicates={self.duplicates} "
                f"unexpected={self.unexpected} pending_after={self.pending_after} exit={self.exit_code} "
                f"seconds={self.seconds:.1f}")


async def _start(emu: BotAPIEmulator, store: Path, log_path: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": emu.base_url,
           "BOT_DB_PATH": str(store), "BOT_STAFF_IDS": "", "BOT_LOG_LEVEL": "INFO",
           "BOT_USER_MESSAGES_PER_MINUTE": "10000"}  # the backlog is a burst per user: no flood control here
    with open(log_path, "ab") as log:
        return await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", cwd=ROOT, env=env,
                                                    stdout=log, stderr=asyncio.subprocess.STDOUT)


async def crash_run(workdir: Path, *, users: int = 30, per_user: int = 10, kills: int = 5, seed: int = 1,
                    drain_timeout: float = 60.0, say: Callable[[str], None] = lambda _: None) -> CrashResult:
    """Queue users*per_user messages, SIGKILL the bot `kills` times at random moments, then drain."""
    rng = random.Random(seed)
    questions = distinct_questions(per_user)
    store = workdir / "store.json"
    shutil.copy(BUNDLED_STORE, store)
    log_path = workdir / "bot.log"
    started = time.monotonic()
    async with BotAPIEmulator(tokens=[TOKEN]) as emu:
        chats = [FIRST_USER + u for u in range(users)]
        # Round-robin like real traffic: every user's first question, then every user's second, ...
        emu.queue_updates(emu.make_text_update(chat, q) for q in questions for chat in chats)
        total = users * per_user
        moments: list[str] = []
        for n in range(kills):
            if emu.pending_updates() == 0:
                break  # the backlog is drained: no moment left to kill in
            proc = await _start(emu, store, log_path)
            spawned = time.monotonic()
            if rng.random() < 0.2:  # now and then during start-up or the first batch
                await asyncio.sleep(rng.uniform(0.1, 2.0))
            else:  # usually in the middle of the backlog: after the first reply of this run
                before = len(emu.sent)
                try:
                    await emu.wait_for(lambda before=before: len(emu.sent) > before, 30, "a reply after restart")
                except TimeoutError:
                    proc.kill()
                    raise
                await asyncio.sleep(rng.uniform(0.0, 0.4))  # the backlog drains in ~1-2 s
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            moments.append(f"{time.monotonic() - spawned:.2f}s after start, {len(emu.sent)} replies sent")
            say(f"kill {n + 1}/{kills}: {moments[-1]}, {emu.pending_updates()} unconfirmed")

        proc = await _start(emu, store, log_path)

        def answered_all() -> bool:
            per_chat = Counter(m["chat_id"] for m in emu.sent)
            return all(per_chat[c] >= per_user for c in chats) and emu.pending_updates() == 0

        try:
            await emu.wait_for(answered_all, drain_timeout, "every message answered and confirmed")
        except TimeoutError:
            pass  # counted below as lost
        await asyncio.sleep(0.5)  # a late duplicate would show up now
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(proc.wait(), 20)
        except TimeoutError:
            proc.kill()
            code = await proc.wait()

        by_chat: dict[int, Counter] = {c: Counter() for c in chats}
        unexpected = 0
        for m in emu.sent:
            if m["chat_id"] in by_chat:
                by_chat[m["chat_id"]][m["text"]] += 1
            else:
                unexpected += 1
        lost = duplicates = 0
        for texts in by_chat.values():
            lost += max(0, per_user - len(texts))  # the k questions have k different answers
            duplicates += sum(n - 1 for n in texts.values())
            unexpected += max(0, len(texts) - per_user)
        pending = emu.pending_updates()
    tail = log_path.read_text(errors="replace")[-4000:] if log_path.exists() else ""
    return CrashResult(total, len(moments), lost, duplicates, unexpected, time.monotonic() - started, pending, code,
                       moments, tail)


async def test_sigkill_at_random_moments_loses_no_message_and_duplicates_at_most_one_per_kill(tmp_path):
    result = await crash_run(tmp_path, users=30, per_user=10, kills=5, seed=20_240_601, drain_timeout=40)
    print(result.line())
    assert result.kills >= 3, f"the backlog drained before the bot could be killed: {result.kill_moments}"
    assert result.lost == 0, f"{result.line()}\n{result.kill_moments}\n{result.log_tail}"
    assert result.duplicates <= result.kills, f"{result.line()}\n{result.kill_moments}"
    assert result.unexpected == 0, f"{result.line()}\n{result.log_tail}"
    assert result.pending_after == 0 and result.exit_code == 0, f"{result.line()}\n{result.log_tail}"
