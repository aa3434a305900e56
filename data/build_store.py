"""Rebuild data/store.json from data/sources/ (run from the project root: python data/build_store.py).

Sources: the ministry's own blog post the project started from (replaces sample post p055,
which summarises the same page, and keeps its id), the 131 sample posts and 15 contacts, and their
translations and citizen-facing card texts (data/sources/i18n/: posts.json by post id and language,
contacts.json by contact id with `page_url` and `i18n`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.seed import parse_blog_page  # noqa: E402
from bot.store import PostStore  # noqa: E402

SOURCES = ROOT / "data" / "sources"
SEED_ID = "p055"
IMPORTED_AT = "2026-11-29T00:00:00+00:00"


def main() -> int:
    posts = json.loads((SOURCES / "posts.json").read_text(encoding="utf-8"))
    contacts = json.loads((SOURCES / "contacts.json").read_text(encoding="utf-8"))
    seed = parse_blog_page((SOURCES / "seed-moi-blog-sn193.txt").read_text(encoding="utf-8"))
    translations = _json(SOURCES / "i18n" / "posts.json")
    contact_cards = _json(SOURCES / "i18n" / "contacts.json")
    for contact in contacts:
        contact.update(contact_cards.get(contact["id"], {}))
    for post in posts:
        if post["id"] in translations:
            post["i18n"] = translations[post["id"]]
        post["source"] = "sample corpus (data/sources/posts.json)"
        post["imported_at"] = post["updated_at"] = IMPORTED_AT
        if post["id"] == SEED_ID:
            post.update(seed)
            post["source"] = "ministry blog page (data/sources/seed-moi-blog-sn193.txt)"
    target = ROOT / "data" / "store.json"
    if target.exists():
        target.unlink()
    store = PostStore(target, create=True)
    report_p = store.upsert_posts(posts)
    report_c = store.upsert_contacts(contacts)
    store.close()
    print(f"posts: {report_p.added} added, {len(report_p.rejected)} rejected; "
          f"contacts: {report_c.added} added, {len(report_c.rejected)} rejected -> {target}")
    return 1 if report_p.rejected or report_c.rejected else 0


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


if __name__ == "__main__":
    sys.exit(main())
