"""Alternate questions: phrasings staff add to a post (its `questions` field) so the matcher finds the post
for them too, and how `explain` shows that one matched.

A question is added under the store's write lock (PostStore.edit_post: re-read, change, replace the
file), so it is never lost beside an import or another staff member's change; the store's change
listener re-indexes the matcher at once, and a running bot picks up a change another process made
within seconds. Nothing here imports Telegram.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache

from bot.config import DATA_DIR
from bot.models import Post
from bot.store import PostStore
from bot.text import clean

MAX_CHARS = 300  # an alternate question is a question, not a paragraph
_MASKED = re.compile(r"(?:\[email\]|[#][#\s.\-/+]*)")  # what bot/privacy.py left of digits and addresses


class QuestionError(ValueError):
    """An alternate question that cannot be stored; the message says why."""


@lru_cache(maxsize=1)
def tunables() -> dict:
    """data/learning.json: the digest's, lint's and inline mode's tunables."""
    raw = json.loads((DATA_DIR / "learning.json").read_text(encoding="utf-8"))
    return {k: v for k, v in raw.items() if not k.startswith("_")}


def clean_question(text: str | None) -> str:
    """The question as it is stored: one line, what the question log masked left out, at most 300 characters."""
    question = " ".join(_MASKED.sub(" ", clean(text or "", limit=MAX_CHARS * 2)).split())
    if not any(ch.isalnum() for ch in question):
        raise QuestionError("the question is empty (or nothing is left once masked digits are left out)")
    if len(question) > MAX_CHARS:
        raise QuestionError(f"the question is longer than {MAX_CHARS} characters")
    return question


@dataclass(frozen=True, slots=True)
class Added:
    post: Post
    question: str
    new: bool  # False: the post already had it


def add_question(store: PostStore, post_id: str, text: str) -> Added:
    """Add an alternate question to a post, atomically under the store's lock; KeyError for an unknown post."""
    question = clean_question(text)
    fresh: list[bool] = []

    def change(record: dict) -> dict:
        existing = list(record.get("questions") or [])
        if any(q.casefold() == question.casefold() for q in existing):
            return record
        fresh.append(True)
        return {**record, "questions": [*existing, question]}

    post = store.edit_post(post_id, change)
    return Added(post, question, bool(fresh))


def remove_question(store: PostStore, post_id: str, text: str) -> bool:
    """Take an alternate question off a post (as typed, case aside); False when the post did not have it."""
    gone: list[bool] = []
    wanted = " ".join((text or "").split()).casefold()

    def change(record: dict) -> dict:
        kept = [q for q in record.get("questions") or [] if q.casefold() != wanted]
        if len(kept) != len(record.get("questions") or []):
            gone.append(True)
        return {**record, "questions": kept}

    store.edit_post(post_id, change)
    return bool(gone)


def matched_alternate(engine, question: str) -> dict | None:
    """For `explain`: the alternate question of the best post that holds the largest share of the question's
    weight, with the share its title holds beside it; `matched` when the alternate question holds more of
    the question than the title (it is why the post was found). None when the best posts have none."""
    index = engine.post_index
    plan = index.plan(clean(question))
    mass = plan.mass or 1.0

    def share(text: str) -> float:
        terms = set(index.doc_tokens(text))
        return sum(w for t, w in plan.terms.items() if t in terms) / mass

    for rank, hit in enumerate(index.score(plan, k=3), start=1):
        post = engine.posts[hit.id]
        if not post.questions:
            continue
        covers, q = max((share(q), q) for q in post.questions)
        if covers <= 0:
            continue
        title = share(post.title)
        return {"post": post.id, "rank": rank, "question": q, "covers": round(covers, 3),
                "title_covers": round(title, 3), "matched": covers > title}
    return None
