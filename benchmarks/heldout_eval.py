"""End-to-end answer quality on a question file the answerability model never saw.

    python benchmarks/heldout_eval.py [--shared ../shared]

For each dev file in turn: fit the answerability model on the other dev file and our synthetic
questions (data/training), then answer the held-out file with it (everything else as shipped) and
print accuracy by kind and by language. This is the figure closest to unseen questions of the same
kinds; the shipped model is fitted on all files.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    args = ap.parse_args()
    from eval_engine import build_engine, load_questions, report

    from bot.answerability import AnswerabilityModel
    from bot.fitting import fit_and_report

    shared = Path(args.shared)
    dev = [shared / "eval" / "questions-dev.jsonl", shared / "eval" / "questions-dev2.jsonl"]
    training = [ROOT / "data" / "training" / "answerable.jsonl", ROOT / "data" / "training" / "unanswerable.jsonl"]
    engine = build_engine(False, shared)
    variant = "semantic" if engine.answerability.semantic else "lexical"
    for held_out in dev:
        fit_on = [f for f in dev if f != held_out] + training
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.json"
            path.write_text((ROOT / "data" / "answerability.json").read_text(encoding="utf-8"), encoding="utf-8")
            fit_and_report(engine, fit_on, out=path)  # both variants: the cascade uses the lexical one too
            engine.answerability = AnswerabilityModel.load(path, variant=variant)
            engine.lexical = AnswerabilityModel.load(path, variant="lexical")
        questions = load_questions([str(held_out)])
        results = []
        for q in questions:
            a = engine.answer(q["q"])
            results.append((a.kind, a.ids, a.ms))
        print(f"== {held_out.name}, model fitted on {', '.join(f.name for f in fit_on)}")
        report(questions, results, False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
