"""Command line: the console, one-off questions, the batch mode for evaluation, imports, staff tools.

    python -m bot                 run the Telegram bot, or the console when no token is set
    python -m bot chat            interactive console on the same answer engine
    python -m bot ask "question"  answer once
    python -m bot answer --jsonl  batch mode (the protocol of ../shared/tools/score_eval.py)
    python -m bot explain "q"     how a question was read and scored
    python -m bot import SOURCE   add or update posts (or contacts) from a file or URL: blog page,
                                  list page, RSS, Atom, JSON, CSV (bot/admin.py)
    python -m bot posts …         staff: list, show, edit, delete, export the stored posts
    python -m bot contacts …      staff: list, show, edit the stored contacts
    python -m bot post add …      staff: publish a post
    python -m bot announce --topic T (--post ID | --text "…") [--at "tomorrow 09:00"] [--yes]
                                  staff: preview, confirm, then send now or schedule (Asia/Taipei)
    python -m bot subscribers     staff: subscribers by topic, and how many blocked the bot
    python -m bot digest | lint | posts add-question …   staff: learning from questions (bot/learning_cli.py)
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import sys
from pathlib import Path

from bot.config import ConfigError, Settings, load_settings
from bot.filelock import LockError
from bot.models import (
    RecordError,
    contact_from_record,
    post_from_record,
    with_translations,
)
from bot.opstore import OpStoreError
from bot.store import PostStore, StoreError


def _engine_from_files(posts_file: str | None, contacts_file: str | None, settings: Settings):
    from bot.answer import AnswerEngine

    if posts_file or contacts_file:
        store = _open_store(settings)
        # Posts and contacts from files answer in every language the store holds translations for.
        posts = ([with_translations(post_from_record(r, i), store.post(r.get("id")) if isinstance(r, dict) else None)
                  for i, r in enumerate(_iter_json(posts_file))] if posts_file else store.posts())
        contacts = ([with_translations(contact_from_record(r, i), store.contact(r.get("id")) if isinstance(r, dict)
                                       else None)
                     for i, r in enumerate(_read_json(contacts_file))] if contacts_file else store.contacts())
        return AnswerEngine(posts, contacts)
    return AnswerEngine.from_store(_open_store(settings))


def _iter_json(path: str):
    """The records of a JSON list file, one at a time (a 100,000-post file never sits in memory as dicts twice)."""
    from bot.jsonstream import read_json_list

    try:
        yield from read_json_list(path)
    except OSError as exc:
        raise SystemExit(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise SystemExit(f"{path} must hold a JSON list of records: {exc}") from None


def _read_json(path: str) -> list:
    """The records of a JSON list file, parsed one at a time."""
    return list(_iter_json(path))


def _open_store(settings: Settings) -> PostStore:
    try:
        return PostStore(settings.db_path)
    except StoreError as exc:
        raise SystemExit(f"error: {exc}") from None


def plain(text_html: str) -> str:
    """Telegram HTML to terminal text."""
    return html.unescape(re.sub(r"<[^>]+>", "", text_html))


def print_reply(reply, out=sys.stdout) -> list:
    out.write(plain(reply.text) + "\n")
    buttons = [b for row in reply.buttons for b in row]
    for n, b in enumerate(buttons, start=1):
        target = b.url or ""
        out.write(f"  [{n}] {b.label}{'  ' + target if target else ''}\n")
    out.flush()
    return buttons


def _console_language(lang: str):
    from bot.i18n import t
    from bot.render import Reply

    return lang, Reply(t(lang, "language_set"))


def cmd_chat(settings: Settings, lang: str = "en") -> int:
    from bot import callbacks
    from bot.assistant import Assistant
    from bot.i18n import INTERFACE_LANGS, t
    from bot.render import Reply

    assistant = Assistant(_engine_from_files(None, None, settings))
    print("Console mode (no Telegram): type a question, /help for commands, a button number to press it, Ctrl-D to quit.")
    buttons: list = []
    while True:
        try:
            line = input("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if not line:
            continue
        if line.isdigit() and 1 <= int(line) <= len(buttons) and buttons[int(line) - 1].data:
            data = buttons[int(line) - 1].data
            action = callbacks.decode(data)
            if action is not None and action.kind == "lang":
                lang, reply = _console_language(action.args[0])
            else:
                reply = assistant.press(data, lang)
        elif line.startswith("/"):
            name, _, args = line[1:].partition(" ")
            name = name.lower()
            if name == "language":  # "/language zh" switches at once; "/language" offers the choice
                chosen = args.strip().lower()
                lang, reply = _console_language(chosen) if chosen in INTERFACE_LANGS else (lang, assistant.language_menu(lang))
            elif name in ("subscribe", "unsubscribe", "subscriptions"):
                reply = Reply(t(lang, "console_subscribe"))  # announcements go to Telegram chats only
            else:
                reply = assistant.command(name, args, lang) or assistant.help(lang)
        else:
            _, reply = assistant.ask(line, lang)
        if reply is None:
            continue
        print("bot> ", end="")
        buttons = print_reply(reply)


def cmd_ask(settings: Settings, question: str, as_json: bool) -> int:
    from bot.assistant import Assistant

    assistant = Assistant(_engine_from_files(None, None, settings))
    answer, reply = assistant.ask(question)
    if as_json:
        print(json.dumps(_answer_line(None, answer), ensure_ascii=False))
    else:
        print_reply(reply)
    return 0


def _answer_line(qid, answer) -> dict:
    return {"id": qid, "kind": answer.kind, "results": [{"id": h.id, "score": h.score} for h in answer.hits],
            "ms": answer.ms}


def cmd_answer_jsonl(settings: Settings, posts_file: str | None, contacts_file: str | None) -> int:
    engine = _engine_from_files(posts_file, contacts_file, settings)
    if engine.semantic is not None:
        engine.semantic.wait_ready()
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            item = json.loads(line)
            qid, question = item.get("id"), str(item.get("q", ""))
        except (json.JSONDecodeError, AttributeError):
            qid, question = None, ""
        answer = engine.answer(question)
        sys.stdout.write(json.dumps(_answer_line(qid, answer), ensure_ascii=False) + "\n")
        sys.stdout.flush()
    return 0


def cmd_fit(settings: Settings, args) -> int:
    from bot.fitting import fit_and_report

    engine = _engine_from_files(args.posts, args.contacts, settings)
    model = fit_and_report(engine, [Path(f) for f in args.files], write=not args.dry_run, only=args.variant)
    print(json.dumps({name: {"thresholds": v["thresholds"], **v["report"]} for name, v in model["variants"].items()},
                     ensure_ascii=False, indent=1))
    return 0


def cmd_explain(settings: Settings, question: str) -> int:
    from bot.alternates import matched_alternate

    engine = _engine_from_files(None, None, settings)
    info = engine.explain(question)
    # Which alternate question staff added (bot/alternates.py) holds the question, and whether it, more than
    # the title, is why the post was found.
    info["alternate_question"] = matched_alternate(engine, question)
    print(json.dumps(info, ensure_ascii=False, indent=1))
    return 0


def cmd_post_add(settings: Settings, args) -> int:
    from bot.staff import publish_post

    store = _open_store(settings)
    try:
        post = publish_post(store, title=args.title, body=args.body, category=args.category, url=args.url or "",
                            tags=args.tag or [])
    except RecordError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"published {post.id}: {post.title} ({post.date})")
    from bot.answer import AnswerEngine
    from bot.lint import check_post

    for finding in check_post(AnswerEngine.from_store(store), post):  # what would make it hard to find
        print(f"warning: {finding.line()}", file=sys.stderr)
    return 0


def _open_ops(settings: Settings):
    from bot.opstore import OpStoreError, SQLiteOperationalStore

    try:
        return SQLiteOperationalStore(settings.operational_path)
    except OpStoreError as exc:
        raise SystemExit(f"error: {exc}") from None


def cmd_subscribers(settings: Settings, out=sys.stdout) -> int:
    from bot.opstore import TOPICS

    ops = _open_ops(settings)
    try:
        by_topic = ops.count_by_topic()
        status = ops.count_subscribers()
    finally:
        ops.close()
    out.write(f"subscribers: {sum(status.values())} (active: {status.get('active', 0)}, "
              f"blocked: {status.get('blocked', 0)} — they blocked the bot or their chat is gone)\n")
    out.write("active subscribers by topic (one person may follow several):\n")
    for topic in TOPICS:
        out.write(f"  {topic}: {by_topic.get(topic, 0)}\n")
    out.flush()
    return 0


def cmd_announce(settings: Settings, *, topic: str, post: str | None, text: str | None, at: str | None,
                 yes: bool, again: bool = False, out=sys.stdout, err=sys.stderr, ask=input) -> int:
    """Preview an announcement, ask for confirmation, then schedule it or send it now. A post announced
    before needs a second confirmation (typed, or --again with --yes).

    Sending now needs the bot token and runs the broadcast here, with the same Broadcaster and
    Telegram adapter as the bot. If the bot is running (it holds the instance lock), the broadcast
    is handed to it instead, so that only one process ever sends it.
    """
    from datetime import datetime

    from bot import announce
    from bot.lock import AlreadyRunning, InstanceLock
    from bot.opstore import TAIPEI

    store = _open_store(settings)
    ops = _open_ops(settings)
    try:
        try:
            topic = announce.clean_topic(topic)
            if post:
                found = store.post(post)
                if found is None:
                    raise announce.StaffInputError("staff_ann_no_post", id=post)
                message = announce.from_post(found)
            else:
                message = announce.from_text(text)
            when = announce.parse_when(at, datetime.now(TAIPEI)) if at else None
        except announce.StaffInputError as exc:
            err.write(f"error: {plain(exc.message('en', cli=True))}\n")
            return 2
        if when is None and not settings.token:
            err.write("TELEGRAM_BOT_TOKEN is not set: cannot send now. Set it (see .env.example), or schedule "
                      "the announcement with --at \"tomorrow 09:00\" and the bot sends it at that time.\n")
            return 2
        count = announce.recipients(ops, topic)
        out.write("--- preview: exactly what each recipient gets ---\n")
        print_reply(message.reply(), out)
        earlier = announce.earlier_broadcasts(ops, message.post_id)
        if earlier:
            out.write("---\n" + plain(announce.again_text(earlier, message.post_id, "en")) + "\n")
        out.write("---\n" + plain(announce.confirm_text(topic, count, when, "en")) + "\n")
        out.flush()
        if yes and earlier and not again:
            err.write(f"error: {message.post_id} was already announced; add --again to send it a second time.\n")
            return 2
        questions = [("Type yes to confirm: ", ("y", "yes"))] if not yes else []
        if earlier and not again:
            questions.append(("It was announced before. Type again to send it a second time: ", ("again",)))
        for prompt, accepted in questions:
            try:
                answer = ask(prompt)
            except (EOFError, KeyboardInterrupt):
                answer = ""
            if answer.strip().lower() not in accepted:
                out.write("Cancelled: nothing was sent or scheduled.\n")
                return 1
        staff_id = 0  # the terminal: no Telegram chat to report progress to
        if when is not None:
            broadcast_id = announce.create(ops, staff_id, topic, message, when)
            out.write(f"Scheduled broadcast #{broadcast_id} for {announce.format_when(when)}. The bot sends it "
                      "then (a running bot notices it within a minute; a stopped one when it starts).\n")
            return 0
        lock = InstanceLock(settings.lock_path)
        try:
            lock.acquire()
        except AlreadyRunning:
            broadcast_id = announce.create(ops, staff_id, topic, message, datetime.now(TAIPEI))
            out.write(f"The bot is running: broadcast #{broadcast_id} was handed to it and starts within a "
                      "minute. Follow it with /broadcasts in Telegram.\n")
            return 0
        try:
            return _announce_now(settings, ops, lambda: announce.create(ops, staff_id, topic, message), out, err)
        finally:
            lock.release()
    finally:
        ops.close()
        store.close()


def _announce_now(settings: Settings, ops, create, out, err) -> int:
    import asyncio

    from telegram.error import TelegramError

    from bot import announce

    created: list[int] = []

    async def run():
        from telegram import Bot

        from bot.broadcast import Broadcaster

        # The Telegram edge that translates telegram.error into the broadcaster's errors; it
        # handles no updates, so the terminal shares it rather than keep a second copy.
        from bot.telegram_delivery import telegram_sender

        async with Bot(settings.token, base_url=settings.api_base_url) as bot:  # checks the token first
            broadcast_id = create()
            created.append(broadcast_id)
            topic = ops.broadcast(broadcast_id).topic
            announce.prepare(ops, broadcast_id)

            async def show(progress) -> None:
                err.write(plain(announce.progress_text(progress, topic, "en")).replace("\n", " · ") + "\n")
                err.flush()

            sender = telegram_sender(bot)
            return await Broadcaster(ops, sender, rate_per_s=settings.broadcast_rate).run(broadcast_id, show)

    try:
        report = asyncio.run(run())
    except TelegramError as exc:
        err.write(f"error: Telegram refused or could not be reached ({type(exc).__name__}: {exc}). "
                  + ("Nothing was sent.\n" if not created else
                     f"Broadcast #{created[0]} stays open; the bot resumes it when it starts.\n"))
        return 2
    except KeyboardInterrupt:
        if created:
            err.write(f"Interrupted: broadcast #{created[0]} is paused; the bot resumes it when it starts.\n")
        return 130
    out.write(plain(announce.report_text(ops, report.broadcast_id, "en", elapsed_s=report.elapsed_s,
                                         stopped_reason=report.stopped_reason)) + "\n")
    return 0 if report.state == "done" else 1


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bot", description="Ministry of the Interior assistant")
    sub = ap.add_subparsers(dest="cmd")
    run = sub.add_parser("run", help="run the Telegram bot (polling, or --webhook)")
    run.add_argument("--webhook", action="store_true", help="serve a webhook instead of polling")
    chat = sub.add_parser("chat", help="interactive console")
    chat.add_argument("--lang", default="en", choices=["en", "zh"])
    ask = sub.add_parser("ask", help="answer one question")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="print the engine's answer as JSON")
    ans = sub.add_parser("answer", help="batch mode: JSON lines on stdin, answers on stdout")
    ans.add_argument("--jsonl", action="store_true", required=True)
    ans.add_argument("--posts", help="posts JSON file instead of the store")
    ans.add_argument("--contacts", help="contacts JSON file instead of the store")
    exp = sub.add_parser("explain", help="show how a question is read and scored")
    exp.add_argument("question")
    sub.add_parser("doctor", help="check settings, stores, lock, data files and (with a token) Telegram")
    from bot.admin import add_parsers

    add_parsers(sub)  # import, posts, contacts
    post = sub.add_parser("post", help="staff: publish posts")
    post_sub = post.add_subparsers(dest="post_cmd", required=True)
    add = post_sub.add_parser("add", help="publish a new post")
    add.add_argument("--title", required=True)
    add.add_argument("--body", required=True)
    add.add_argument("--category", required=True)
    add.add_argument("--url")
    add.add_argument("--tag", action="append")
    announce_p = sub.add_parser("announce", help="staff: send or schedule an announcement to subscribers")
    announce_p.add_argument("--topic", required=True,
                            help="news, workshops, anti-trafficking, announcements, or all")
    what = announce_p.add_mutually_exclusive_group(required=True)
    what.add_argument("--post", metavar="ID", help="announce this post")
    what.add_argument("--text", help="a short announcement text")
    announce_p.add_argument("--at", metavar="TIME",
                            help='send later, Asia/Taipei: "tomorrow 09:00", "2026-12-01 14:30", "in 2 hours"')
    announce_p.add_argument("--yes", action="store_true", help="send without asking for confirmation")
    announce_p.add_argument("--again", action="store_true",
                            help="confirm sending a post that was announced before (needed with --yes)")
    sub.add_parser("subscribers", help="staff: subscribers by topic, and how many blocked the bot")
    from bot import learning_cli

    learning_cli.add_parsers(sub)  # digest, lint
    fit = sub.add_parser("fit-answerability", help="refit data/answerability.json on question files (JSONL)")
    fit.add_argument("files", nargs="+", help="question files: post and none questions with expected ids")
    fit.add_argument("--posts", help="posts JSON file instead of the store")
    fit.add_argument("--contacts", help="contacts JSON file instead of the store")
    fit.add_argument("--dry-run", action="store_true", help="print the figures, keep the current model")
    fit.add_argument("--variant", choices=["semantic", "lexical"],
                     help="refit one variant only (the lexical one on a large store: --posts big.json)")
    sub.add_parser("embed-cache", help="precompute the bundled store's sentence vectors (data/embeddings.npz)")
    fits = sub.add_parser("fit-safety", help="refit the safety cue thresholds (data/safety/cues.json)")
    fits.add_argument("files", nargs="+", help="question files with safety and other questions")
    fits.add_argument("--dry-run", action="store_true", help="print the figures, keep the current thresholds")
    return ap


def main(argv: list[str] | None = None) -> int:
    """Run one command. A failure the user can fix (a setting, a store, a folder) is one line on
    stderr and exit code 2, never a traceback; a reader that stops reading (`| head`) ends it quietly."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        return _run(args, settings)
    except BrokenPipeError:
        # The reader went away (`python -m bot ask … | head`): stop writing, and let no flush at exit
        # raise the same error again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 141  # 128 + SIGPIPE, as a shell reports a process ended by a closed pipe
    except (StoreError, OpStoreError, LockError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        print(f"error: cannot use{where}: {exc.strerror or exc}", file=sys.stderr)
        return 2


def _run(args, settings: Settings) -> int:
    if args.cmd == "chat":
        return cmd_chat(settings, args.lang)
    if args.cmd == "ask":
        return cmd_ask(settings, args.question, args.json)
    if args.cmd == "answer":
        return cmd_answer_jsonl(settings, args.posts, args.contacts)
    if args.cmd == "explain":
        return cmd_explain(settings, args.question)
    from bot import learning_cli

    if learning_cli.handles(args):  # digest, lint, posts add-question / remove-question
        return learning_cli.run(args, settings)
    if args.cmd in ("import", "posts", "contacts"):
        from bot import admin

        return {"import": admin.cmd_import, "posts": admin.cmd_posts, "contacts": admin.cmd_contacts}[args.cmd](
            settings, args)
    if args.cmd == "doctor":
        from bot.doctor import run_doctor

        return run_doctor(settings)
    if args.cmd == "post":
        return cmd_post_add(settings, args)
    if args.cmd == "announce":
        return cmd_announce(settings, topic=args.topic, post=args.post, text=args.text, at=args.at, yes=args.yes,
                            again=args.again)
    if args.cmd == "subscribers":
        return cmd_subscribers(settings)
    if args.cmd == "fit-answerability":
        return cmd_fit(settings, args)
    if args.cmd == "embed-cache":
        from bot.semantic import CACHE_FILE, write_cache

        n = write_cache(_open_store(settings).posts())
        print(f"{n} units -> {CACHE_FILE}")
        return 0
    if args.cmd == "fit-safety":
        from bot.fitting import fit_safety

        result = fit_safety(_engine_from_files(None, None, settings), [Path(f) for f in args.files],
                            write=not args.dry_run)
        print(json.dumps(result, ensure_ascii=False, indent=1))
        return 0
    webhook = args.cmd == "run" and args.webhook
    if not settings.token:
        if args.cmd == "run":
            print("TELEGRAM_BOT_TOKEN is not set: cannot run the Telegram bot (see .env.example).", file=sys.stderr)
            return 2
        print("No TELEGRAM_BOT_TOKEN set: starting the local console instead of Telegram.")
        return cmd_chat(settings)
    from bot.app import run_bot

    return run_bot(settings, webhook=webhook)
