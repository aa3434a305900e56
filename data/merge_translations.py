"""Merge translation drafts into data/sources/i18n/posts.json (run from the project root).

    python data/merge_translations.py DRAFT.json [DRAFT.json ...]

Each draft maps post ids to {language: {title, summary, body}}; later drafts add languages or fields
to what is there. Every entry is validated as a post's `i18n` field before it is written.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.models import RecordError, post_from_record  # noqa: E402

TARGET = ROOT / "data" / "sources" / "i18n" / "posts.json"


def main(paths: list[str]) -> int:
    merged = json.loads(TARGET.read_text(encoding="utf-8")) if TARGET.exists() else {}
    posts = {p["id"]: p for p in json.loads((ROOT / "data" / "sources" / "posts.json").read_text(encoding="utf-8"))}
    for path in paths:
        for pid, langs in json.loads(Path(path).read_text(encoding="utf-8")).items():
            if pid not in posts:
                print(f"{path}: unknown post {pid}", file=sys.stderr)
                return 1
            for lang, fields in langs.items():
                merged.setdefault(pid, {}).setdefault(lang, {}).update(fields)
    for pid, i18n in merged.items():
        try:
            post_from_record({**posts[pid], "i18n": i18n})
        except RecordError as exc:
            print(exc, file=sys.stderr)
            return 1
    ordered = {pid: merged[pid] for pid in sorted(merged)}
    TARGET.write_text(json.dumps(ordered, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{len(ordered)} posts with translations -> {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
