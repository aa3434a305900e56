"""Load: 50 simulated users through the loopback Bot API emulator, our bot next to a bare PTB echo bot.

Why: the issue asks for replies/s and p50/p99 reply latency of our bot under 50 users, next to a
bare python-telegram-bot echo bot measured in the same run with the same emulator settings
(target: ours >= 0.8 of the echo bot's replies/s).

Closed loop: each of --users users sends --messages questions, each one only after the reply to
the previous one arrived (a person waits for the answer), all users at once. Latency is the time
from queueing the update in the emulator to the emulator receiving the sendMessage for that chat;
replies/s is all replies over the time from the first queued update to the last reply. The
emulator enforces no rate limits (the same for every bot), runs in this process on 127.0.0.1, and
every bot is its own process polling it with getUpdates:

  ours           python -m bot (our polling loop, AIORateLimiter, flood control off for the run)
  echo           a bare PTB Application: MessageHandler -> send_message(same text), run_polling
  echo+limiter   the same echo bot with AIORateLimiter() as ours has: separates Telegram's
                 30 messages/s cap (which the limiter keeps to) from the cost of our own code
  ours-nolimit   our Application and polling loop (bot.app.build_application(rate_limit=False),
                 bot.polling.poll_until_stopped): what our code costs without the cap

    python benchmarks/bench_load.py [--users 50] [--messages 20] [--bots ours,echo,echo+limiter,ours-nolimit]
    python benchmarks/bench_load.py --profile        # also record ours-nolimit with py-spy (if installed)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.emulator import BotAPIEmulator  # noqa: E402

TOKEN = "6660004444:AAH_loadBenchToken-abcdefghijklmnop"
FIRST_USER = 30_000
WARMUP_USER = 29_999
TARGET = 0.8
QUESTIONS = [  # a mix of what people ask: posts, contacts, lists, declines, small talk, Chinese
    "taiwan indonesia immigration meeting jakarta", "how do I renew my passport", "1955 hotline",
    "latest news", "eswatini immigration MOU", "workshop for new immigrants", "護照 申請", "thank you",
    "anti trafficking cooperation with the philippines", "what time does the immigration office open",
    "contact the ministry", "asdkjh qwe", "residence permit for foreign spouse", "hello",
]


@dataclass
class Run:
    name: str
    replies: int
    missing: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.replies / self.seconds if self.seconds else 0.0

    def pct(self, q: int) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] if self.latencies else float("nan")
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[q - 1]


class TimedEmulator(BotAPIEmulator):
    """The emulator, plus the moment each sendMessage arrived, handed to the user waiting in that chat."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.waiting: dict[int, asyncio.Future] = {}

    def _api_sendmessage(self, params, token):
        message = super()._api_sendmessage(params, token)
        waiter = self.waiting.pop(message["chat"]["id"], None)
        if waiter is not None and not waiter.done():
            waiter.set_result(time.perf_counter())
        return message


def _bot_command(kind: str, emu: BotAPIEmulator) -> tuple[list[str], dict[str, str]]:
    env = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": emu.base_url}
    if kind == "ours":
        return [sys.executable, "-m", "bot"], env
    if kind in ("echo", "echo+limiter"):
        return [sys.executable, str(Path(__file__).resolve()), "--serve-echo",
                *(["--limiter"] if kind == "echo+limiter" else [])], env
    if kind == "ours-nolimit":
        return [sys.executable, str(Path(__file__).resolve()), "--serve-ours-nolimit"], env
    raise SystemExit(f"unknown bot {kind!r}")


async def _ask(emu: TimedEmulator, chat: int, text: str, timeout: float) -> float | None:
    """Queue one message from `chat`; the seconds until the bot's reply reached the emulator, or None."""
    future = asyncio.get_running_loop().create_future()
    emu.waiting[chat] = future
    sent_at = time.perf_counter()
    emu.queue_updates([emu.make_text_update(chat, text)])
    try:
        return await asyncio.wait_for(future, timeout) - sent_at
    except TimeoutError:
        emu.waiting.pop(chat, None)
        return None


async def measure(kind: str, users: int, messages: int, workdir: Path, *, profile: bool = False) -> Run:
    store = workdir / f"{kind}.store.json"
    from bot.config import BUNDLED_STORE

    shutil.copy(BUNDLED_STORE, store)
    async with TimedEmulator(tokens=[TOKEN]) as emu:
        cmd, env = _bot_command(kind, emu)
        env = {**os.environ, **env, "BOT_DB_PATH": str(store), "BOT_STAFF_IDS": "", "BOT_LOG_LEVEL": "INFO",
               "BOT_USER_MESSAGES_PER_MINUTE": "10000"}  # 50 users at full speed are not a flood to stop
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        raw = workdir / f"profile-{kind}.txt"
        profiling = profile and Path(spy).exists()
        if profiling:
            cmd = [spy, "record", "--rate", "200", "--format", "raw", "--nonblocking", "-o", str(raw), "--", *cmd]
        elif profile:
            print("  py-spy is not installed (pip install py-spy): no profile", flush=True)
        with open(workdir / f"{kind}.log", "wb") as log:
            proc = await asyncio.create_subprocess_exec(*cmd, cwd=ROOT, env=env, stdout=log,
                                                        stderr=asyncio.subprocess.STDOUT)
        try:
            if await _ask(emu, WARMUP_USER, "hello", 60) is None:
                raise SystemExit(f"{kind}: no reply to the warm-up message; see {workdir / (kind + '.log')}")
            latencies: list[float] = []
            missing = 0

            async def user(n: int) -> None:
                nonlocal missing
                chat = FIRST_USER + n
                for m in range(messages):
                    took = await _ask(emu, chat, QUESTIONS[(n + m) % len(QUESTIONS)], 60)
                    if took is None:
                        missing += 1
                    else:
                        latencies.append(took)

            start = time.perf_counter()
            await asyncio.gather(*(user(n) for n in range(users)))
            seconds = time.perf_counter() - start
        finally:
            if proc.returncode is None:
                target = _child_of(proc.pid) if profiling else proc.pid  # py-spy writes when its child ends
                os.kill(target or proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
    if profiling and raw.exists():
        print(summarise_profile(raw.read_text(errors="replace")), flush=True)
    return Run(kind, len(latencies), missing, seconds, latencies)


def _child_of(pid: int) -> int | None:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def summarise_profile(raw: str, top: int = 16) -> str:
    """py-spy's collapsed stacks ("frame;frame;... count") to where the polling loop's on-CPU time goes
    (start-up is left out: only stacks under bot/polling.py:poll_until_stopped count)."""
    inclusive: dict[str, int] = {}
    leaf: dict[str, int] = {}
    total = loop = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_frame(f) for f in stack.split(";") if f]
        if LOOP_FRAME not in frames:
            continue
        loop += n
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + n
        leaf[frames[-1]] = leaf.get(frames[-1], 0) + n
    if not loop:
        return f"  profile: {total} samples, none in the polling loop"
    def share(items: dict[str, int], keep) -> list[str]:
        ranked = sorted(((n, f) for f, n in items.items() if keep(f)), reverse=True)[:top]
        return [f"    {n / loop:6.1%}  {f}" for n, f in ranked]
    ours = ("bot/", "handlers/")
    return "\n".join([f"  profile: {loop} of {total} on-CPU samples in the polling loop; shares of those.",
                       "  our frames, inclusive:", *share(inclusive, lambda f: f.startswith(ours)),
                       "  library frames, inclusive:",
                       *share(inclusive, lambda f: not f.startswith((*ours, "<", "asyncio/", "bench_load"))),
                       "  leaf frames (self time):", *share(leaf, lambda f: True)])


LOOP_FRAME = "bot/polling.py:poll_until_stopped"


def _frame(raw_frame: str) -> str:
    """'send_message (telegram/_bot.py:123)' -> 'telegram/_bot.py:send_message' (lines dropped)."""
    name, _, where = raw_frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", str(ROOT) + "/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{name}"


# ---------------------------------------------------------------------------- the bots under test

def serve_echo(limiter: bool) -> None:
    """A bare python-telegram-bot echo bot: what PTB itself costs per message."""
    from telegram import Update
    from telegram.ext import AIORateLimiter, ApplicationBuilder, ContextTypes, MessageHandler, filters

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await context.bot.send_message(update.effective_chat.id, update.effective_message.text)

    builder = ApplicationBuilder().token(os.environ["TELEGRAM_BOT_TOKEN"]).base_url(os.environ["TELEGRAM_API_BASE_URL"])
    if limiter:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=2))
    app = builder.build()
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    app.run_polling(poll_interval=0.0, timeout=20, allowed_updates=Update.ALL_TYPES)


def serve_ours_nolimit() -> None:
    """Our composition (all handlers, services, the durable polling loop) without AIORateLimiter."""
    from bot.app import _post_init, build_application
    from bot.config import load_settings
    from bot.intake import Intake
    from bot.polling import poll_until_stopped
    from bot.services import Services

    settings = load_settings()

    async def serve() -> None:
        services = Services.open(settings)
        app = build_application(settings, services, rate_limit=False)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        try:
            async with app:
                await app.start()
                await _post_init(app)
                await poll_until_stopped(app, Intake(app, services), stop)
                await app.stop()
        finally:
            services.close()

    asyncio.run(serve())


# ---------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--messages", type=int, default=20, help="messages per user")
    ap.add_argument("--bots", default="ours,echo,echo+limiter,ours-nolimit")
    ap.add_argument("--profile", action="store_true", help="record ours-nolimit with py-spy")
    ap.add_argument("--serve-echo", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--limiter", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--serve-ours-nolimit", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve_echo:
        serve_echo(args.limiter)
        return 0
    if args.serve_ours_nolimit:
        serve_ours_nolimit()
        return 0

    kinds = [k.strip() for k in args.bots.split(",") if k.strip()]
    print(f"{args.users} users x {args.messages} messages each, closed loop, loopback emulator without rate limits; "
          f"{os.cpu_count()} CPUs", flush=True)
    runs: dict[str, Run] = {}
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        for kind in kinds:
            run = asyncio.run(measure(kind, args.users, args.messages, Path(tmp),
                                      profile=args.profile and kind == "ours-nolimit"))
            runs[kind] = run
            print(f"  {kind:<13} {run.rate:8.1f} replies/s   p50 {run.pct(50) * 1000:7.1f} ms   "
                  f"p99 {run.pct(99) * 1000:7.1f} ms   replies {run.replies}  missing {run.missing}  "
                  f"in {run.seconds:.1f}s", flush=True)
    if "ours" in runs and "echo" in runs:
        ratio = runs["ours"].rate / runs["echo"].rate
        print(f"ours / echo replies/s = {ratio:.2f} (target >= {TARGET})")
        if "echo+limiter" in runs:
            print(f"ours / echo+limiter   = {runs['ours'].rate / runs['echo+limiter'].rate:.2f} "
                  "(the same 30 messages/s limiter on both)")
        if "ours-nolimit" in runs:
            print(f"ours-nolimit / echo   = {runs['ours-nolimit'].rate / runs['echo'].rate:.2f} "
                  "(our code's own cost, no limiter)")
        return 0 if ratio >= TARGET else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
