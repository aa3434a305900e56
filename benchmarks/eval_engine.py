"""Answer quality in-process, by kind and by language, on one or more question files.

    python benchmarks/eval_engine.py ../shared/eval/questions-dev.jsonl [more.jsonl ...] [--wrong] [--store]

Judged as ../shared/tools/score_eval.py judges (post/contact: an answer with an expected id first;
safety: a referral with an expected contact among the first three; none: a decline; latest: a list
or post with an expected id first). By default the engine reads ../shared/corpus (as the scorer's
batch command does, translations attached from the bundled store); --store uses data/store.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def judge(q: dict, kind: str, ids: list[str]) -> bool:
    expect = set(q.get("expect") or [])
    top = ids[0] if ids else None
    if q["kind"] in ("post", "contact"):
        return kind != "none" and top in expect
    if q["kind"] == "safety":
        return kind == "referral" and bool(expect & set(ids[:3]))
    if q["kind"] == "none":
        return kind == "none"
    if q["kind"] == "latest":
        return kind in ("list", "post") and top in expect
    raise ValueError(q["kind"])


def load_questions(paths: list[str]) -> list[dict]:
    out = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            out += [json.loads(line) for line in f if line.strip()]
    return out


def build_engine(use_store: bool, shared: Path):
    from bot.cli import _engine_from_files
    from bot.config import load_settings

    settings = load_settings({})
    if use_store:
        return _engine_from_files(None, None, settings)
    return _engine_from_files(str(shared / "corpus" / "posts.json"), str(shared / "corpus" / "contacts.json"), settings)


def report(questions: list[dict], results: list[tuple[str, list[str], float]], show_wrong: bool) -> dict:
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_lang: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    wrong = []
    for q, (kind, ids, _ms) in zip(questions, results, strict=True):
        ok = judge(q, kind, ids)
        for table, key in ((by_kind, q["kind"]), (by_lang, q.get("lang", "?"))):
            table[key][0] += ok
            table[key][1] += 1
        if not ok:
            wrong.append((q, kind, ids))
    total = sum(v[0] for v in by_kind.values()), sum(v[1] for v in by_kind.values())
    ms = sorted(r[2] for r in results)
    print("kind     " + "  ".join(f"{k} {v[0]}/{v[1]}" for k, v in sorted(by_kind.items())))
    print("lang     " + "  ".join(f"{k} {v[0]}/{v[1]}" for k, v in sorted(by_lang.items())))
    print(f"all      {total[0]}/{total[1]} = {total[0] / max(1, total[1]):.3f}   "
          f"p50 {statistics.median(ms):.2f} ms  p99 {ms[min(len(ms) - 1, int(0.99 * len(ms)))]:.2f} ms")
    if show_wrong:
        for q, kind, ids in wrong:
            print(f"  {q['id']} [{q['kind']}/{q.get('lang')}] {q['q'][:90]!r} expect={q.get('expect')} got={kind} {ids[:3]}")
    return {"accuracy": total[0] / max(1, total[1]), "by_kind": dict(by_kind), "by_lang": dict(by_lang)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--wrong", action="store_true", help="list the questions answered wrongly")
    ap.add_argument("--store", action="store_true", help="answer from data/store.json instead of ../shared/corpus")
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    args = ap.parse_args()
    engine = build_engine(args.store, Path(args.shared))
    for path in args.files:
        questions = load_questions([path])
        results = []
        for q in questions:
            a = engine.answer(q["q"])
            results.append((a.kind, a.ids, a.ms))
        print(f"== {Path(path).name} ({len(questions)})")
        report(questions, results, args.wrong)
    return 0


if __name__ == "__main__":
    sys.exit(main())
