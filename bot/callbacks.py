"""Callback data for inline buttons: a small strict grammar, at most 64 bytes, validated on the way back.

Anything that does not parse (old, forged or truncated data) decodes to None, and the handler
answers "this button has expired" instead of acting on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_BYTES = 64
_ID = r"[A-Za-z0-9_-]{1,40}"
_PATTERNS: dict[str, re.Pattern[str]] = {
    "post": re.compile(rf"^p:({_ID})$"),
    "more": re.compile(rf"^m:({_ID}(?:,{_ID}){{0,12}})$"),
    "news": re.compile(r"^n:(\d{4}|-):(\d{1,4})$"),
    "cat": re.compile(r"^c:(news|workshop|anti-trafficking|cooperation|announcement|trafficking):(\d{1,4})$"),
    "share": re.compile(rf"^s:({_ID})$"),
    "clear": re.compile(r"^clear$"),
    "lang": re.compile(r"^l:(en|zh|id|vi|th|tl)$"),
    "hot": re.compile(r"^h:(\d{1,2})$"),
    "sub": re.compile(r"^sub:(news|workshops|anti-trafficking|announcements|all|done)$"),
    "staff": re.compile(r"^st:([a-z_]{1,20}):([A-Za-z0-9_-]{0,30})$"),
    # 👍 / 👎 under an answer: the logged answer's random reference (bot/feedback.py), never a user id
    "vote": re.compile(r"^v:(up|down):([A-Za-z0-9_-]{8,16})$"),
    # a staff action on a digest group (bot/digest.py): add as alternate question (of a post), mark out
    # of scope, ignore, search for the post, undo an alternate question just added
    "digest": re.compile(rf"^dg:(add|out|ign|find|undo):(\d{{1,12}})(?::({_ID}))?$"),
}


@dataclass(frozen=True, slots=True)
class Action:
    kind: str
    args: tuple[str, ...]


def decode(data: str | None) -> Action | None:
    if not data or len(data.encode("utf-8")) > MAX_BYTES:
        return None
    for kind, pattern in _PATTERNS.items():
        m = pattern.match(data)
        if m:
            return Action(kind, m.groups())
    return None


def encode(kind: str, *args: str) -> str:
    prefix = {"post": "p", "more": "m", "news": "n", "cat": "c", "share": "s", "lang": "l", "sub": "sub",
              "staff": "st", "hot": "h", "vote": "v", "digest": "dg"}
    data = "clear" if kind == "clear" else ":".join([prefix[kind], *args])
    if decode(data) is None:
        raise ValueError(f"callback data {data!r} does not fit the grammar or 64 bytes")
    return data


def more_ids(ids: list[str]) -> str | None:
    """Pack as many ids as fit into one 'more results' button, or None if none fit."""
    packed: list[str] = []
    for i in ids[:13]:
        candidate = "m:" + ",".join([*packed, i])
        if len(candidate.encode()) > MAX_BYTES:
            break
        packed.append(i)
    return "m:" + ",".join(packed) if packed else None
