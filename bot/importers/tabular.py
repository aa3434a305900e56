"""JSON lists (the shape of ../shared/corpus/posts.json, and what `posts export` writes) and CSV files
with a header row, as raw records.

CSV columns: title, date, body (required); id, category, url, tags and questions ("|" between
items), source, source_url; translations as `title.zh-TW`, `summary.zh-TW`, `body.zh-TW` (any
language of bot/models.CONTENT_LANGS). A bad row is rejected with its line number; the others go on.
"""

from __future__ import annotations

import csv
import io
import re

from bot.jsonstream import iter_json_list
from bot.models import CONTENT_LANGS, POST_I18N_FIELDS, RecordError, is_contact_record, post_from_record

REQUIRED_COLUMNS = ("title", "date", "body")
LIST_COLUMNS = ("tags", "questions")
TEXT_COLUMNS = ("id", "title", "date", "category", "body", "url", "source", "source_url", "imported_at",
                "updated_at")
_SLASH_DATE = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$")


class TableError(ValueError):
    """The file cannot be read as a table at all (no header, a column missing)."""


def parse_json(text: str) -> tuple[list[object], list[object]]:
    """(posts, contacts) of a JSON list; contacts carry a phone and no body. Raises ValueError if not a list."""
    posts: list[object] = []
    contacts: list[object] = []
    for record in iter_json_list(text):
        (contacts if is_contact_record(record) else posts).append(record)
    return posts, contacts


def parse_csv(text: str) -> tuple[list[dict], list[str]]:
    """(raw post records, rejected rows as "line N: reason") of a CSV file with a header row."""
    text = text.lstrip("\ufeff")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    header = next(reader, None)
    if not header:
        raise TableError("the CSV file is empty: a header row (title,date,body,…) is required")
    columns = [c.strip() for c in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise TableError(f"line 1: the header row lacks the column(s) {', '.join(missing)} "
                         f"(it has: {', '.join(columns) or 'none'})")
    translated = {}
    for i, name in enumerate(columns):
        key, _, lang = name.partition(".")
        if lang:
            if lang not in CONTENT_LANGS or key not in POST_I18N_FIELDS:
                raise TableError(f"line 1: column {name!r} is not a translation column "
                                 f"(<{'|'.join(POST_I18N_FIELDS)}>.<{'|'.join(CONTENT_LANGS)}>)")
            translated[i] = (lang, key)
    posts: list[dict] = []
    rejected: list[str] = []
    line = reader.line_num + 1
    for row in reader:
        start, line = line, reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(columns):
            rejected.append(f"line {start}: {len(row)} cells but the header has {len(columns)} columns")
            continue
        record: dict = {}
        for i, cell in enumerate(row):
            name, cell = columns[i], cell.strip()
            if not cell:
                continue
            if i in translated:
                lang, key = translated[i]
                record.setdefault("i18n", {}).setdefault(lang, {})[key] = cell
            elif name in LIST_COLUMNS:
                record[name] = [part.strip() for part in cell.split("|") if part.strip()]
            elif name in TEXT_COLUMNS:
                record[name] = cell
        day = _SLASH_DATE.match(record.get("date", ""))
        if day:
            record["date"] = f"{day[1]}-{int(day[2]):02d}-{int(day[3]):02d}"
        try:  # validated here too, so a bad row is named by its line, not by its place in the import
            post_from_record({"id": "row", "category": "news", **record})
        except RecordError as exc:
            rejected.append(f"line {start}: {str(exc).split(': ', 1)[-1]}")
            continue
        posts.append(record)
    return posts, rejected
