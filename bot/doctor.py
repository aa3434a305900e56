"""`python -m bot doctor`: check what the bot needs before (or while) it runs, and say what to fix.

Each check prints one line, "ok: …" or "problem: … fix: …". The exit code is 0 when every check
is ok, 1 otherwise. The token is never printed (every line goes through bot.logs.redact).

Checks: the settings (already validated by bot.config), the post store (loads and validates,
counts posts and contacts, answers a question), the operational store (opens, integrity, last
handled update), the instance lock (free, or which process holds it), the data files (matcher
tunables, intents, stopwords, synonyms, glossary, safety lexicon and cards, message catalogues)
and, with a token, Telegram: getMe and getWebhookInfo (webhook or polling mode, pending updates,
last delivery error).
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import sqlite3
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TextIO

from bot.config import DATA_DIR, DEFAULT_API_BASE, Settings
from bot.logs import redact


class _Report:
    def __init__(self, out: TextIO, secrets: tuple[str, ...]) -> None:
        self.out, self.secrets, self.problems = out, secrets, 0

    def ok(self, what: str) -> None:
        self._line(f"ok: {what}")

    def problem(self, what: str, fix: str) -> None:
        self.problems += 1
        self._line(f"problem: {what} fix: {fix}")

    def _line(self, text: str) -> None:
        self.out.write(redact(" ".join(text.split()), self.secrets) + "\n")
        self.out.flush()

    def run(self, name: str, check: Callable[[], None], fix: str) -> None:
        """Run one check; an unexpected exception is a problem of that check, not a crash of the doctor."""
        try:
            check()
        except Exception as exc:  # noqa: BLE001 - the doctor reports, it never dies
            self.problem(f"{name}: {type(exc).__name__}: {exc}.", fix)


def run_doctor(settings: Settings, *, out: TextIO | None = None) -> int:
    """Print one line per check; 0 when all are ok, 1 otherwise. Never prints the token."""
    report = _Report(out or sys.stdout, (settings.token, settings.webhook_secret))
    _check_settings(report, settings)
    report.run("post store", lambda: _check_store(report, settings),
               f"restore {settings.db_path} from a backup or point BOT_DB_PATH at the store file")
    report.run("operational store", lambda: _check_opstore(report, settings),
               f"move {settings.operational_path} aside (a new one is created) or restore it from a backup")
    report.run("news sources", lambda: _check_feeds(report, settings),
               "check the addresses in BOT_FEED_URLS, or what those sites serve now")
    report.run("instance lock", lambda: _check_lock(report, settings),
               f"check the permissions of {settings.lock_path.parent}")
    report.run("storage", lambda: _check_space(report, settings), "check the disks the stores live on")
    _check_data(report)
    if settings.token:
        report.run("Telegram", lambda: asyncio.run(_check_telegram(report, settings)),
                   "check the network and TELEGRAM_API_BASE_URL")
    else:
        report.ok("Telegram: no TELEGRAM_BOT_TOKEN set, so getMe and the webhook were not checked "
                  "(console mode works; set the token from @BotFather to run the bot)")
    return 0 if report.problems == 0 else 1


# ---------------------------------------------------------------------------- settings

def _check_settings(report: _Report, s: Settings) -> None:
    api = "Telegram" if s.api_base_url == DEFAULT_API_BASE else s.api_base_url
    report.ok(f"settings: token {'set' if s.token else 'not set'}, API {api}, store {s.db_path}, "
              f"state {s.operational_path}, {len(s.staff_ids)} staff id(s), log level {s.log_level}, "
              f"question log kept {s.question_log_days} day(s)")
    if s.webhook_url and not s.webhook_secret:
        report.problem("settings: BOT_WEBHOOK_URL is set but BOT_WEBHOOK_SECRET is not; webhook mode refuses "
                       "to start without it.", "set BOT_WEBHOOK_SECRET to 16-256 characters of A-Z, a-z, 0-9, _ or -")
    elif s.webhook_url:
        report.ok(f"settings: webhook mode configured ({s.webhook_url}, listening on "
                  f"{s.webhook_listen}:{s.webhook_port}, secret set)")
    if not s.staff_ids:
        report.ok("settings: no BOT_STAFF_IDS, so nobody can publish or announce from Telegram (the CLI still can)")


# ---------------------------------------------------------------------------- stores and lock

def _check_store(report: _Report, s: Settings) -> None:
    from bot.answer import AnswerEngine
    from bot.store import PostStore, StoreError

    if not s.db_path.is_file():
        report.problem(f"post store: {s.db_path} does not exist.",
                       "point BOT_DB_PATH at the store file (the bundled one is data/store.json)")
        return
    try:
        store = PostStore(s.db_path)
    except StoreError as exc:
        report.problem(f"post store: {exc}.", f"restore {s.db_path} from a backup")
        return
    try:
        posts, contacts = store.posts(), store.contacts()
    finally:
        store.close()
    report.ok(f"post store: {s.db_path} loads and validates: {len(posts)} posts, {len(contacts)} contacts")
    if not posts:
        report.problem("post store: it holds no posts, so every question is declined.",
                       "import posts with `python -m bot import posts.json`")
    if not contacts:
        report.problem("post store: it holds no contacts, so hotline and referral cards are empty.",
                       "import contacts with `python -m bot import contacts.json`")
    engine = AnswerEngine(posts, contacts)
    answer = engine.answer("passport")
    report.ok(f"answer engine: builds its index and answers a test question ({answer.kind}, {answer.ms:.0f} ms)")


def _check_opstore(report: _Report, s: Settings) -> None:
    from bot.opstore import OpStoreError, SQLiteOperationalStore

    path = s.operational_path
    if not path.exists():
        parent = path.parent
        if parent.is_dir() and os.access(parent, os.W_OK):
            report.ok(f"operational store: {path} does not exist yet; the bot creates it when it starts")
        else:
            report.problem(f"operational store: {path} does not exist and {parent} is not a writable folder.",
                           "create the folder, or set BOT_STATE_PATH to a writable place")
        return
    try:
        ops = SQLiteOperationalStore(s.operational_path)
    except OpStoreError as exc:
        report.problem(f"operational store: {exc}.",
                       f"move {s.operational_path} aside (a new empty one is created) or restore it from a backup")
        return
    try:
        subscribers = ops.count_subscribers()
        marks = ops.update_marks()
        unfinished = len(ops.unfinished_broadcasts())
        skipped = ops.count_skipped(datetime.now(UTC) - timedelta(days=7))
    finally:
        ops.close()
    bot_id = int(s.token.split(":", 1)[0]) if s.token else None
    if bot_id is not None:
        marks = {bot_id: marks[bot_id]} if bot_id in marks else {}
    last = ", ".join(f"{value} of bot {key}" for key, value in sorted(marks.items())) or "none yet"
    conn = sqlite3.connect(f"{s.operational_path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
    try:
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
    finally:
        conn.close()
    if check != "ok":
        report.problem(f"operational store: {s.operational_path} fails SQLite's integrity check ({check}).",
                       "stop the bot, move the file aside and restore it from a backup")
        return
    report.ok(f"operational store: {path} opens, integrity ok, "
              f"{subscribers.get('active', 0)} active and {subscribers.get('blocked', 0)} blocked subscriber(s), "
              f"last handled update {last}, {unfinished} unfinished broadcast(s), "
              f"{skipped} update(s) skipped in the last 7 days (unreadable, or over the flood cap; "
              "the reasons are in the log)")


FEED_FAILURES_PROBLEM = 3  # a source failing this many runs in a row is a problem, fewer is a hiccup


def _check_feeds(report: _Report, s: Settings) -> None:
    """Each source of BOT_FEED_URLS: its last success and last error, as the running bot recorded them
    (the doctor fetches nothing)."""
    if not s.feed_urls:
        report.ok("news sources: none (BOT_FEED_URLS is empty; posts come from `python -m bot import` and /post)")
        return
    from bot.feeds import source_states
    from bot.opstore import SQLiteOperationalStore

    if not s.operational_path.exists():
        report.ok(f"news sources: {len(s.feed_urls)} set, not read yet (the bot reads them every "
                  f"{s.feed_interval_s:g} s once it runs)")
        return
    ops = SQLiteOperationalStore(s.operational_path)
    try:
        states = source_states(ops, s)
    finally:
        ops.close()
    for url, state, mode in states:
        last = f"last success {state.last_success_at or 'never'}, last error " + (
            f"{state.last_error!r} at {state.last_error_at}" if state.last_error else "none")
        if state.failures >= FEED_FAILURES_PROBLEM or (state.failures and not state.last_success_at):
            report.problem(f"news source {url}: {state.failures} failed run(s) in a row ({last}); next try "
                           f"{state.next_attempt_at}.",
                           "check that the address still serves the feed (open it in a browser); the bot keeps "
                           "retrying with backoff and never empties the store meanwhile")
        else:
            report.ok(f"news source {url}: {last}; new posts announced: {mode}"
                      + ("" if state.last_attempt_at else " (not read yet)"))


FREE_SPACE_MIN = 20 * 1024 * 1024  # below this the state database and the store soon cannot be written


def _check_space(report: _Report, s: Settings) -> None:
    """Disk full or read-only: the running bot degrades (answers from memory, retries its writes);
    the doctor names the condition and where."""
    folders = {s.db_path.parent: "post store", s.operational_path.parent: "state database"}
    for folder, what in folders.items():
        if not folder.is_dir():
            continue
        st = os.statvfs(folder)
        free = st.f_bavail * st.f_frsize
        if st.f_flag & os.ST_RDONLY:
            report.problem(f"storage: the {what} folder {folder} is on a read-only file system, so the bot cannot "
                           "save posts, subscribers or the update mark (it still answers from memory).",
                           "remount it read-write or point BOT_DB_PATH / BOT_STATE_PATH at a writable place")
        elif not os.access(folder, os.W_OK):
            report.problem(f"storage: the {what} folder {folder} is not writable by this user.",
                           f"give the bot's user write access to {folder}")
        elif free < FREE_SPACE_MIN:
            report.problem(f"storage: only {free // 1024} KB free where the {what} lives ({folder}); writes will "
                           "fail (the bot then answers from memory and retries).", "free disk space")
        else:
            report.ok(f"storage: {free // (1024 * 1024)} MB free and writable where the {what} lives ({folder})")


def _check_lock(report: _Report, s: Settings) -> None:
    """Probe the lock without taking it over: a running bot is reported, not disturbed."""
    path = s.lock_path
    if not path.exists():
        report.ok(f"instance lock: free ({path} does not exist yet; no bot is running on this store)")
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            report.ok(f"instance lock: held by process {holder}, a bot running on this store "
                      "(a second bot on the same store refuses to start)")
            return
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
    report.ok("instance lock: free (no bot is running on this store)")


# ---------------------------------------------------------------------------- data files

def _check_data(report: _Report) -> None:
    def json_file(name: str) -> dict:
        path = DATA_DIR / name
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold a JSON object")
        return data

    def lexicon() -> None:
        from bot.lexicon import build_lexicon

        lex = build_lexicon(json_file("stopwords.json"), json_file("synonyms.json"), json_file("glossary.json"))
        report.ok(f"data: stopwords, synonyms and glossary load ({len(lex.stopwords)} stopwords, "
                  f"{len(lex.foreign_script) + len(lex.foreign_words)} glossary terms)")

    def tunables() -> None:
        from bot.answer import PhraseSet, Tunables

        Tunables.load()
        intents = {k: PhraseSet(v) for k, v in json_file("intents.json").items() if not k.startswith("_")}
        missing = {"greeting", "thanks", "chitchat", "latest_cues", "news_nouns", "ministry_names"} - set(intents)
        if missing:
            raise ValueError(f"intents.json lacks {sorted(missing)}")
        from bot.fact_types import FactTypes

        FactTypes(json_file("fact_types.json"))  # its regular expressions compile
        report.ok("data: matcher tunables (matcher.json), intents (intents.json) and fact types (fact_types.json) load")

    def safety() -> None:
        from bot.referral import card_texts
        from bot.safety import DATA_DIR as SAFETY_DIR
        from bot.safety import SafetyLexicon

        lex = SafetyLexicon.load(SAFETY_DIR)
        cards = json.loads((SAFETY_DIR / "cards.json").read_text(encoding="utf-8"))
        for lang in cards["languages"]:
            card_texts(lang)["clear_chat"]  # noqa: B018 - every card needs its button label
        report.ok(f"data: safety lexicon loads ({len(lex.languages)} languages, {len(lex.order)} situations), "
                  f"referral cards in {len(cards['languages'])} languages")

    def catalogues() -> None:
        from bot.i18n import INTERFACE_LANGS

        english = json_file("i18n/en.json")
        notes = []
        for lang in INTERFACE_LANGS:
            missing = set(english) - set(json_file(f"i18n/{lang}.json"))
            if missing:
                notes.append(f"{lang} lacks {len(missing)} key(s), shown in English")
        report.ok(f"data: message catalogues load ({', '.join(INTERFACE_LANGS)})" + (f"; {'; '.join(notes)}"
                                                                                    if notes else ""))

    fix = "restore the file from the repository (git checkout data/) or correct the JSON it names"
    report.run("data: stopwords/synonyms/glossary", lexicon, fix)
    report.run("data: matcher.json/intents.json", tunables, fix)
    report.run("data: safety lexicon and cards (data/safety)", safety, fix)
    report.run("data: message catalogues (data/i18n)", catalogues, fix)


# ---------------------------------------------------------------------------- Telegram

async def _check_telegram(report: _Report, s: Settings) -> None:
    from telegram import Bot
    from telegram.error import InvalidToken, NetworkError, TelegramError, TimedOut
    from telegram.request import HTTPXRequest

    where = "Telegram" if s.api_base_url == DEFAULT_API_BASE else s.api_base_url
    bot = Bot(s.token, base_url=s.api_base_url,
              request=HTTPXRequest(connect_timeout=5.0, read_timeout=10.0, write_timeout=10.0))
    try:
        me = await bot.get_me()
        info = await bot.get_webhook_info()
    except InvalidToken:
        report.problem(f"Telegram: {where} rejected the token (getMe).",
                       "copy the token again from @BotFather into TELEGRAM_BOT_TOKEN")
        return
    except (TimedOut, NetworkError) as exc:
        report.problem(f"Telegram: cannot reach {where} ({type(exc).__name__}: {exc}).",
                       "check the network, a proxy, or TELEGRAM_API_BASE_URL")
        return
    except TelegramError as exc:
        report.problem(f"Telegram: {where} refused getMe or getWebhookInfo ({type(exc).__name__}: {exc}).",
                       "check TELEGRAM_BOT_TOKEN and TELEGRAM_API_BASE_URL")
        return
    finally:
        await bot.shutdown()
    report.ok(f"Telegram: token accepted by {where}: @{me.username} (id {me.id})")
    pending = info.pending_update_count
    if info.url:
        report.ok(f"Telegram: webhook mode: {info.url}, {pending} pending update(s)")
        if not s.webhook_url:
            report.problem("Telegram: a webhook is set but this configuration polls (no BOT_WEBHOOK_URL); "
                           "getUpdates would get 409 Conflict.",
                           "set BOT_WEBHOOK_URL to the webhook's base URL and run `python -m bot run --webhook`, "
                           "or delete the webhook (Bot API deleteWebhook) to poll")
        elif not info.url.startswith(s.webhook_url.rstrip("/")):
            report.problem(f"Telegram: the webhook points at {info.url}, not at BOT_WEBHOOK_URL {s.webhook_url}.",
                           "restart the bot in webhook mode: it sets the webhook to BOT_WEBHOOK_URL")
        if info.last_error_message:
            when = info.last_error_date
            stamp = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if isinstance(when, datetime) else "?"
            report.problem(f"Telegram: last webhook delivery error at {stamp}: {info.last_error_message}.",
                           "make sure the webhook URL is reachable over HTTPS from the internet and the bot runs "
                           "with --webhook and the same BOT_WEBHOOK_SECRET")
    else:
        report.ok(f"Telegram: polling mode (no webhook set), {pending} pending update(s)")
        if s.webhook_url:
            report.ok("Telegram: BOT_WEBHOOK_URL is set; the webhook is set when the bot starts with --webhook")
