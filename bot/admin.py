"""Staff commands on the post store: `import`, `posts list|show|edit|delete|export` (and
`posts add-question|remove-question`, run by bot/learning_cli.py),
`contacts list|show|edit`. Every write goes through the store's locked path (bot/store.py).

    python -m bot import SOURCE [--format F] [--url ADDRESS] [--category C]
    python -m bot posts list [--category C] [--source TEXT] [--limit N]
    python -m bot posts show ID            provenance, translations, everything stored
    python -m bot posts edit ID --title … [--body …] [--set zh-TW.title=…] [--tag …]
    python -m bot posts delete ID [--yes]
    python -m bot posts export [--out F] [--contacts]   the JSON that `import` reads back
    python -m bot contacts list | show ID | edit ID --phone …
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TextIO

from bot.config import Settings
from bot.models import CATEGORIES, CONTACT_I18N_FIELDS, CONTENT_LANGS, POST_I18N_FIELDS, RecordError
from bot.store import PostStore, StoreError

PROGRESS_MIN = 1000  # without a terminal, a progress bar only for imports this large (a 5,000-item feed)


def add_parsers(sub) -> None:
    """The `import`, `posts` and `contacts` commands (bot/cli.py's parser calls this)."""
    from bot.importers import FORMATS

    imp = sub.add_parser("import", help="add or update posts (or contacts) from a file or an http(s) URL",
                         description="SOURCE is a file or an http(s) URL: a page of the ministry's blog (HTML or "
                         "saved text), a list page of such posts (its links are followed), an RSS or Atom feed, "
                         "a JSON list (the shape of posts.json, or `posts export`) or a CSV file with a header row. "
                         "The format is read from the content.")
    imp.add_argument("source")
    imp.add_argument("--format", choices=FORMATS, help="the format, when the content does not tell")
    imp.add_argument("--url", dest="page_url", metavar="ADDRESS",
                     help="for a saved page: the address it was saved from (its Read more link)")
    imp.add_argument("--category", choices=CATEGORIES, help="category of new posts whose source names none")
    imp.add_argument("--delay", type=float, metavar="S", help="seconds between the pages of a list (default 1)")
    imp.add_argument("--max-pages", type=int, metavar="N", help="links of a list page followed at most (default 50)")
    imp.add_argument("--timeout", type=float, metavar="S", help="seconds to wait for a URL (default 20)")
    imp.add_argument("--quiet", action="store_true", help="no progress bar")

    posts = sub.add_parser("posts", help="staff: list, show, edit, delete or export stored posts; their alternate questions")
    ps = posts.add_subparsers(dest="posts_cmd", required=True)
    lst = ps.add_parser("list", help="one line per post, newest first")
    lst.add_argument("--category", choices=CATEGORIES)
    lst.add_argument("--source", help="only posts whose source or source URL contains this text")
    lst.add_argument("--limit", type=int, default=0, help="at most this many (0: all)")
    show = ps.add_parser("show", help="everything stored for one post: provenance, translations")
    show.add_argument("id")
    show.add_argument("--json", action="store_true", help="the record as JSON")
    edit = ps.add_parser("edit", help="change fields of one post")
    edit.add_argument("id")
    for name in ("title", "body", "date", "category", "url"):
        edit.add_argument(f"--{name}")
    edit.add_argument("--tag", action="append", help="replace the tags (repeat for several; '' for none)")
    edit.add_argument("--question", action="append", help="replace the alternate questions (repeat for several)")
    edit.add_argument("--set", action="append", metavar="LANG.FIELD=TEXT", default=[],
                      help=f"a translation, e.g. zh-TW.title=… (fields {', '.join(POST_I18N_FIELDS)}; empty text removes "
                      "it; vi= removes a language)")
    delete = ps.add_parser("delete", help="delete one post")
    delete.add_argument("id")
    delete.add_argument("--yes", action="store_true", help="delete without asking")
    export = ps.add_parser("export", help="write the posts as the JSON list `import` reads")
    export.add_argument("--out", help="file to write (default: standard output)")
    export.add_argument("--contacts", action="store_true", help="the contacts too, in the same list")
    from bot.learning_cli import add_question_parsers

    add_question_parsers(ps)  # add-question, remove-question (run by bot/learning_cli.py)

    contacts = sub.add_parser("contacts", help="staff: list, show or edit stored contacts")
    cs = contacts.add_subparsers(dest="contacts_cmd", required=True)
    cs.add_parser("list", help="one line per contact")
    cshow = cs.add_parser("show", help="everything stored for one contact, research notes and source included")
    cshow.add_argument("id")
    cshow.add_argument("--json", action="store_true", help="the record as JSON")
    cedit = cs.add_parser("edit", help="change fields of one contact")
    cedit.add_argument("id")
    for name in ("name", "phone", "agency", "hours", "address", "url", "notes", "page-url"):
        cedit.add_argument(f"--{name}")
    cedit.add_argument("--alt-phone", action="append", help="replace the other numbers (repeat for several)")
    cedit.add_argument("--topic", action="append", help="replace the topics (repeat for several)")
    cedit.add_argument("--language", action="append", help="replace the languages (repeat for several)")
    cedit.add_argument("--set", action="append", metavar="LANG.FIELD=TEXT", default=[],
                       help=f"a card text, e.g. zh-TW.name=… (fields {', '.join(CONTACT_I18N_FIELDS)})")


def _open(settings: Settings) -> PostStore:
    try:
        return PostStore(settings.db_path)
    except StoreError as exc:
        raise SystemExit(f"error: {exc}") from None


# -- import ------------------------------------------------------------------------------------

def cmd_import(settings: Settings, args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Read the source, import it, print a summary: added, updated, unchanged, rejected with reasons.
    Exit 0 when nothing was rejected, 1 when something was, 2 when the source could not be read."""
    from bot.importers import SourceError, import_batch, load

    show = not args.quiet
    pages_bar = None

    def pages(stage: str, done: int, total: int) -> None:
        nonlocal pages_bar
        if not show:
            return
        if pages_bar is None:
            pages_bar = _bar(total, "page", err, force=True)
        pages_bar.n = done
        pages_bar.refresh()

    try:
        batch = asyncio.run(load(args.source, fmt=args.format, page_url=args.page_url or "", category=args.category,
                                 delay=args.delay, max_pages=args.max_pages, timeout=args.timeout, progress=pages))
    except SourceError as exc:
        err.write(f"error: {args.source}: {exc}\n")
        return 2
    finally:
        if pages_bar is not None:
            pages_bar.close()
    store = _open(settings)
    bar = _bar(len(batch.posts), "post", err) if show else None
    try:
        reports = import_batch(store, batch, progress=bar.update if bar else None)
    finally:
        if bar:
            bar.close()
        store.close()
    added, updated, unchanged = (sum(getattr(r, k) for r in reports) for k in ("added", "updated", "unchanged"))
    rejected = [reason for r in reports for reason in r.rejected]
    for reason in rejected[:20]:
        err.write(f"rejected: {reason}\n")
    if len(rejected) > 20:
        err.write(f"... and {len(rejected) - 20} more rejected\n")
    read_posts = len(batch.posts) + len(batch.rejected)
    out.write(f"{batch.format}: {read_posts} posts and {len(batch.contacts)} contacts read: {added} added, "
              f"{updated} updated, {unchanged} unchanged, {len(rejected)} rejected\n")
    return 1 if rejected else 0


def _bar(total: int, unit: str, err: TextIO, *, force: bool = False):
    """tqdm on stderr: always on a terminal; otherwise (a log, a test) only for large imports."""
    if total <= 0 or (not force and total < PROGRESS_MIN and not err.isatty()):
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, file=err, mininterval=0.5, ascii=not err.isatty(), leave=True)


# -- posts -------------------------------------------------------------------------------------

def cmd_posts(settings: Settings, args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr,
              ask=input) -> int:
    store = _open(settings)
    try:
        action = args.posts_cmd
        if action == "list":
            return _posts_list(store, args, out)
        if action == "export":
            return _export(store, args, out, err)
        post = store.post(args.id)
        if post is None:
            err.write(f"error: no post {args.id!r} (python -m bot posts list shows them)\n")
            return 1
        if action == "show":
            if args.json:
                out.write(json.dumps(post.to_record(), ensure_ascii=False, indent=1) + "\n")
            else:
                _show_post(post, out)
            return 0
        if action == "delete":
            out.write(f"{post.id} · {post.date} · {post.title}\n")
            if not args.yes:
                try:
                    answer = ask("Delete this post? Type yes to confirm: ")
                except (EOFError, KeyboardInterrupt):
                    answer = ""
                if answer.strip().lower() not in ("y", "yes"):
                    out.write("Cancelled: nothing was deleted.\n")
                    return 1
            store.delete_post(post.id)
            out.write(f"deleted {post.id}\n")
            return 0
        return _posts_edit(store, args, out, err)
    finally:
        store.close()


def _posts_list(store: PostStore, args, out: TextIO) -> int:
    posts = sorted(store.posts(), key=lambda p: (p.date, p.imported_at, p.id), reverse=True)
    if args.category:
        posts = [p for p in posts if p.category == args.category]
    if args.source:
        needle = args.source.lower()
        posts = [p for p in posts if needle in p.source.lower() or needle in p.source_url.lower()]
    total = len(posts)
    if args.limit > 0:
        posts = posts[:args.limit]
    for p in posts:
        langs = ",".join(sorted(p.i18n)) or "-"
        title = p.title if len(p.title) <= 70 else p.title[:69] + "…"
        out.write(f"{p.id}\t{p.date}\t{p.category}\t{langs}\t{title}\t{p.source}\n")
    out.write(f"{len(posts)} of {total} post(s)\n")
    return 0


def _show_post(post, out: TextIO) -> None:
    rows = [("id", post.id), ("title", post.title), ("date", post.date), ("category", post.category),
            ("url", post.url or "-"), ("tags", ", ".join(post.tags) or "-"),
            ("questions", " | ".join(post.questions) or "-"),
            ("source", post.source or "-"), ("source_url", post.source_url or "-"),
            ("imported_at", post.imported_at or "-"), ("updated_at", post.updated_at or "-")]
    for key, value in rows:
        out.write(f"{key + ':':13}{value}\n")
    out.write(f"\n{post.body}\n")
    if post.i18n:
        out.write("\ntranslations (i18n):\n")
        for lang in sorted(post.i18n):
            for key in POST_I18N_FIELDS:
                if key in post.i18n[lang]:
                    out.write(f"  {lang}.{key}: {post.i18n[lang][key]}\n")
    else:
        out.write("\ntranslations (i18n): none\n")


def _apply_set(record: dict, sets: list[str], fields: tuple[str, ...]) -> None:
    """LANG.FIELD=TEXT into record["i18n"]; empty text removes the field (and the language when empty)."""
    for item in sets:
        key, eq, text = item.partition("=")
        if eq and key.strip() in CONTENT_LANGS and not text.strip():  # "vi=": the language's texts go
            record.get("i18n", {}).pop(key.strip(), None)
            continue
        lang, _, name = key.strip().rpartition(".")
        if not eq or lang not in CONTENT_LANGS or name not in fields:
            raise RecordError(f"--set {item!r}: expected LANG.FIELD=TEXT with LANG one of {', '.join(CONTENT_LANGS)} "
                              f"and FIELD one of {', '.join(fields)}")
        i18n = record.setdefault("i18n", {})
        if text.strip():
            i18n.setdefault(lang, {})[name] = text.strip()
        else:
            i18n.get(lang, {}).pop(name, None)
            if lang in i18n and not i18n[lang]:
                del i18n[lang]


def _posts_edit(store: PostStore, args, out: TextIO, err: TextIO) -> int:
    def change(record: dict) -> dict:
        for name in ("title", "body", "date", "category", "url"):
            value = getattr(args, name)
            if value is not None:
                record[name] = value
        if args.tag is not None:
            record["tags"] = [t for t in args.tag if t.strip()]
        if args.question is not None:
            record["questions"] = [q for q in args.question if q.strip()]
        _apply_set(record, args.set, POST_I18N_FIELDS)
        return record

    try:
        post = store.edit_post(args.id, change)
    except RecordError as exc:
        err.write(f"error: {exc}\n")
        return 1
    out.write(f"saved {post.id} (updated_at {post.updated_at})\n")
    return 0


def _export(store: PostStore, args, out: TextIO, err: TextIO) -> int:
    records = [p.to_record() for p in store.posts()]
    if args.contacts:
        records += [c.to_record() for c in store.contacts()]
    text = json.dumps(records, ensure_ascii=False, indent=1) + "\n"
    if args.out:
        from bot.store import atomic_write_text

        atomic_write_text(Path(args.out), text)
        err.write(f"exported {len(records)} record(s) to {args.out}\n")
    else:
        out.write(text)
    return 0


# -- contacts ----------------------------------------------------------------------------------

def cmd_contacts(settings: Settings, args: argparse.Namespace, out: TextIO = sys.stdout,
                 err: TextIO = sys.stderr) -> int:
    store = _open(settings)
    try:
        if args.contacts_cmd == "list":
            for c in store.contacts():
                out.write(f"{c.id}\t{c.phone}\t{c.name}\t{','.join(c.topics) or '-'}\n")
            out.write(f"{len(store.contacts())} contact(s)\n")
            return 0
        contact = store.contact(args.id)
        if contact is None:
            err.write(f"error: no contact {args.id!r} (python -m bot contacts list shows them)\n")
            return 1
        if args.contacts_cmd == "show":
            if args.json:
                out.write(json.dumps(contact.to_record(), ensure_ascii=False, indent=1) + "\n")
            else:
                _show_contact(contact, out)
            return 0
        return _contacts_edit(store, args, out, err)
    finally:
        store.close()


def _show_contact(c, out: TextIO) -> None:
    rows = [("id", c.id), ("name", c.name), ("agency", c.agency or "-"), ("phone", c.phone),
            ("alt_phones", ", ".join(c.alt_phones) or "-"), ("topics", ", ".join(c.topics) or "-"),
            ("languages", ", ".join(c.languages) or "-"), ("hours", c.hours or "-"), ("address", c.address or "-"),
            ("page_url", c.page_url or "-"), ("url", f"{c.url or '-'}   (staff only: where the facts were verified)"),
            ("notes", f"{c.notes or '-'}   (staff only, never shown to citizens)")]
    for key, value in rows:
        out.write(f"{key + ':':12}{value}\n")
    if c.i18n:
        out.write("\ncard texts (i18n):\n")
        for lang in sorted(c.i18n):
            for key in CONTACT_I18N_FIELDS:
                if key in c.i18n[lang]:
                    out.write(f"  {lang}.{key}: {c.i18n[lang][key]}\n")
    else:
        out.write("\ncard texts (i18n): none\n")


def _contacts_edit(store: PostStore, args, out: TextIO, err: TextIO) -> int:
    def change(record: dict) -> dict:
        for name in ("name", "phone", "agency", "hours", "address", "url", "notes"):
            value = getattr(args, name)
            if value is not None:
                record[name] = value
        if args.page_url is not None:
            record["page_url"] = args.page_url
        for flag, key in (("alt_phone", "alt_phones"), ("topic", "topics"), ("language", "languages")):
            values = getattr(args, flag)
            if values is not None:
                record[key] = [v for v in values if v.strip()]
        _apply_set(record, args.set, CONTACT_I18N_FIELDS)
        return record

    try:
        contact = store.edit_contact(args.id, change)
    except RecordError as exc:
        err.write(f"error: {exc}\n")
        return 1
    out.write(f"saved {contact.id}\n")
    return 0
