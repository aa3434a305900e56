"""Answer-engine benchmark: index build time, peak RSS, latency and dev-set accuracy at 131, 10k and 100k posts.

    python benchmarks/bench_matcher.py [--sizes 0,10000,100000] [--shared ../shared]

Stores are made with ../shared/tools/gen_corpus.py N --with ../shared/corpus/posts.json (the
real posts hidden among synthetic ones); size 0 means the 131 real posts alone. Each size runs
in its own process so peak RSS is that size's own. The same run measures a naive baseline,
rapidfuzz process.extractOne over titles, so the ratio is visible on any machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _load_scorer(shared: Path):
    spec = importlib.util.spec_from_file_location("score_eval", shared / "tools" / "score_eval.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))]


def _accuracy(scorer, questions, answers, kinds=("post", "contact", "none", "latest")) -> dict:
    out = {}
    for kind in ("post", "contact", "none", "latest", "all"):
        qs = [(q, a) for q, a in zip(questions, answers, strict=True)
              if (q["kind"] == kind if kind != "all" else q["kind"] in kinds)]
        if qs:
            out[kind] = round(sum(scorer.judge(q, a) for q, a in qs) / len(qs), 4)
    return out


def run_one(n: int, shared: Path) -> dict:
    from rapidfuzz import fuzz, process

    from bot.answer import AnswerEngine
    from bot.jsonstream import read_json_list
    from bot.models import contact_from_record, post_from_record

    scorer = _load_scorer(shared)
    corpus = shared / "corpus"
    source = corpus / "posts.json"
    if n:
        source = Path(tempfile.mkdtemp()) / f"posts-{n}.json"
        with open(source, "wb") as out:
            subprocess.run([sys.executable, str(shared / "tools" / "gen_corpus.py"), str(n), "--with",
                            str(corpus / "posts.json")], stdout=out, check=True)
    # Posts are read one record at a time, as `python -m bot import` does.
    posts = [post_from_record(r) for r in read_json_list(source)]
    contacts = [contact_from_record(r) for r in json.loads((corpus / "contacts.json").read_text(encoding="utf-8"))]
    questions = scorer.load_jsonl(shared / "eval" / "questions-dev.jsonl")
    questions = [q for q in questions if q["kind"] != "safety"]  # the safety check is measured on its own

    # Language data (lexicons, glossary, the English word list) loads once whatever the store size;
    # it is timed apart so "build" is the index itself.
    from bot import safety
    from bot.lexicon import default_lexicon, english_words

    start = time.perf_counter()
    default_lexicon()
    english_words()
    safety.check("warm up")
    data_s = time.perf_counter() - start
    start = time.perf_counter()
    engine = AnswerEngine(posts, contacts)
    build_s = time.perf_counter() - start

    answers, times = [], []
    for _ in range(3):
        answers = []
        for q in questions:
            t0 = time.perf_counter()
            a = engine.answer(q["q"])
            times.append((time.perf_counter() - t0) * 1000)
            answers.append({"kind": a.kind, "results": [{"id": h.id} for h in a.hits]})
    ours = _accuracy(scorer, questions, answers)

    titles = [p.title for p in posts]
    ids = [p.id for p in posts]
    naive_answers, naive_times = [], []
    for q in questions:
        t0 = time.perf_counter()
        best = process.extractOne(q["q"], titles, scorer=fuzz.WRatio)
        naive_times.append((time.perf_counter() - t0) * 1000)
        naive_answers.append({"kind": "post", "results": [{"id": ids[best[2]]}] if best else []})
    naive = _accuracy(scorer, questions, naive_answers)
    return {
        "posts": len(posts),
        "build_s": round(build_s, 3),
        "data_s": round(data_s, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "p50_ms": round(statistics.median(times), 3),
        "p99_ms": round(_percentile(times, 99), 3),
        "accuracy": ours,
        "naive_p50_ms": round(statistics.median(naive_times), 3),
        "naive_p99_ms": round(_percentile(naive_times, 99), 3),
        "naive_accuracy": naive,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="0,10000,100000", help="synthetic posts added to the 131 real ones")
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    shared = Path(args.shared)
    if not (shared / "tools" / "gen_corpus.py").is_file():
        print(f"needs {shared}/tools and eval (the shared folder beside the project)", file=sys.stderr)
        return 2
    if args.one is not None:
        print(json.dumps(run_one(args.one, shared)))
        return 0
    print(f"{'posts':>8} {'data s':>7} {'build s':>8} {'RSS MB':>7} {'p50 ms':>7} {'p99 ms':>7} {'post':>6} {'contact':>7} {'none':>6}"
          f" {'latest':>6} {'all':>6} | naive: {'p50':>6} {'p99':>6} {'post':>6} {'all':>6}")
    for size in [int(s) for s in args.sizes.split(",") if s.strip()]:
        out = subprocess.run([sys.executable, __file__, "--one", str(size), "--shared", str(shared)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            print(out.stderr[-2000:], file=sys.stderr)
            return 1
        r = json.loads(out.stdout.strip().splitlines()[-1])
        a, na = r["accuracy"], r["naive_accuracy"]
        print(f"{r['posts']:>8} {r['data_s']:>7.2f} {r['build_s']:>8.2f} {r['peak_rss_mb']:>7.0f} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f}"
              f" {a.get('post', 0):>6.3f} {a.get('contact', 0):>7.3f} {a.get('none', 0):>6.3f} {a.get('latest', 0):>6.3f}"
              f" {a.get('all', 0):>6.3f} |        {r['naive_p50_ms']:>6.2f} {r['naive_p99_ms']:>6.2f}"
              f" {na.get('post', 0):>6.3f} {na.get('all', 0):>6.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
