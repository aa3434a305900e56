"""Staff services: publishing posts. Called by the /post conversation and by `python -m bot post add`."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.models import Post
from bot.store import PostStore

TAIPEI = ZoneInfo("Asia/Taipei")
STAFF_ID_PREFIX = "m"


def draft_post(store: PostStore, *, title: str, body: str, category: str, url: str = "",
               tags: list[str] | None = None, day: str | None = None, zh_title: str = "") -> dict:
    """A post record ready for preview; validated again when published. Staff may give the
    Traditional Chinese title too (the bot answers Chinese questions with it)."""
    record = {
        "id": store.next_post_id(STAFF_ID_PREFIX),
        "title": title.strip(),
        "body": body.strip(),
        "category": category.strip(),
        "url": url.strip(),
        "tags": [t.strip() for t in (tags or []) if t.strip()],
        "date": day or datetime.now(TAIPEI).date().isoformat(),
    }
    if zh_title.strip():
        record["i18n"] = {"zh-TW": {"title": zh_title.strip()}}
    return record


def publish_post(store: PostStore, **fields) -> Post:
    """Validate and store a new post; it is searchable as soon as this returns. Its id is allocated
    under the store's write lock, so a post added meanwhile by another process keeps its own."""
    return store.add_post(draft_post(store, **fields), source="staff", id_prefix=STAFF_ID_PREFIX)
