"""Command line for learning from questions: the digest, alternate questions and lint.

    python -m bot digest [--period 7d]             the unanswered questions, grouped (saved: ids for the actions)
    python -m bot digest add GROUP POST_ID         add the group's question as an alternate question of a post
    python -m bot digest out GROUP | ignore GROUP  mark a group out of scope, or ignore it
    python -m bot digest undo GROUP                take back the alternate question added from a group
    python -m bot posts add-question POST_ID "question"      an alternate question, re-indexed at once
    python -m bot posts remove-question POST_ID "question"
    python -m bot lint                             posts the matcher cannot tell apart, alternate questions
                                                   that find another post, posts without date, source or
                                                   Chinese title (exit code 1 when it finds any)

The same services as the bot's buttons (bot/digest.py, bot/alternates.py, bot/lint.py).
"""

from __future__ import annotations

import argparse
import sys

from bot.config import Settings


def add_parsers(sub) -> None:
    """The subcommands, on the CLI's subparsers (`posts add-question` is added by bot/admin.py's `posts`)."""
    dig = sub.add_parser("digest", help="staff: unanswered and 👎 questions, grouped; act on a group")
    dig.add_argument("--period", default="1d", help="how far back: 24h, 7d, 2w (default 1d)")
    dig_sub = dig.add_subparsers(dest="digest_cmd")
    add = dig_sub.add_parser("add", help="add a group's question as an alternate question of a post")
    add.add_argument("group", type=int)
    add.add_argument("post_id")
    for verb, text in (("out", "mark a group out of scope"), ("ignore", "ignore a group"),
                       ("undo", "take back the alternate question added from a group")):
        dig_sub.add_parser(verb, help=text).add_argument("group", type=int)
    sub.add_parser("lint", help="staff: posts or alternate questions too close to tell apart, missing data")


def add_question_parsers(posts_sub) -> None:
    """`posts add-question` and `posts remove-question` (on whichever `posts` parser the CLI has)."""
    for name, text in (("add-question", "add an alternate question to a post"),
                       ("remove-question", "remove an alternate question from a post")):
        p = posts_sub.add_parser(name, help=text)
        p.add_argument("post_id")
        p.add_argument("question")


def handles(args: argparse.Namespace) -> bool:
    return args.cmd in ("digest", "lint") or getattr(args, "posts_cmd", None) in ("add-question", "remove-question")


def run(args: argparse.Namespace, settings: Settings, out=None, err=None) -> int:
    from bot.services import Services

    out, err = out or sys.stdout, err or sys.stderr
    services = Services.open(settings)
    try:
        if args.cmd == "lint":
            return _lint(services, out)
        if args.cmd == "digest":
            return _digest(services, args, out, err)
        return _question(services, args, out, err)
    finally:
        services.close()


def _lint(services, out) -> int:
    from bot.lint import lint_store

    findings = lint_store(services.engine)
    for finding in findings:
        out.write(finding.line() + "\n")
    out.write(f"{len(findings)} finding(s) over {len(services.engine.posts)} posts\n")
    return 1 if findings else 0


def _digest(services, args, out, err) -> int:
    from bot import digest
    from bot.cli import plain

    verb = args.digest_cmd
    if verb in ("add", "out", "ignore", "undo"):
        outcome = digest.act(services, args.group, {"ignore": "ign"}.get(verb, verb),
                             getattr(args, "post_id", None), "en")
        (out if outcome.ok else err).write(plain(outcome.text) + "\n")
        return 0 if outcome.ok else 1
    try:
        period = digest.parse_period(args.period)
    except digest.PeriodError:
        err.write(f"error: cannot read the period {args.period!r}: give it like 24h, 7d or 2w\n")
        return 2
    found = digest.build(services, services.now() - period)
    out.write(plain(digest.heading(found, "en")) + "\n")
    posts = services.engine.posts
    for group in found.groups:
        reply = digest.group_reply(group, posts, "en", group.id)
        out.write("\n" + plain(reply.text).replace(f"{group.id}. ", f"#{group.id} ", 1) + "\n")
        for post_id in group.candidates:
            out.write(f"  python -m bot digest add {group.id} {post_id}   # {plain(posts[post_id].title)[:70]}\n")
        out.write(f"  python -m bot digest out {group.id}  |  python -m bot digest ignore {group.id}\n")
    return 0


def _question(services, args, out, err) -> int:
    from bot import digest
    from bot.alternates import remove_question
    from bot.cli import plain

    if args.posts_cmd == "remove-question":
        try:
            gone = remove_question(services.store, args.post_id, args.question)
        except KeyError:
            err.write(f"error: there is no post {args.post_id}\n")
            return 2
        out.write(f"removed from {args.post_id}\n" if gone else f"{args.post_id} has no such alternate question\n")
        return 0 if gone else 1
    outcome = digest.add_alternate(services, args.post_id, args.question, "en")
    (out if outcome.ok else err).write(plain(outcome.text) + "\n")
    return 0 if outcome.ok else 2
