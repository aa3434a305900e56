"""`python -m bot fit-answerability`: fit the answerability model and print cross-validated figures.

Training rows are the post and 'none' questions of the given JSONL files (the format of
../shared/eval): for each, the engine ranks the posts and computes the signals of its best one
(bot/answerability.py); the label says whether answering with that post is right (a post question
whose best post is expected). 'none' questions and post questions ranked wrongly are negatives: for
them, declining beats a wrong answer.

Figures are never reported on the rows a model was fitted to: each question file in turn is held out
(fit on the others, judge on it), then a stratified k-fold over all rows gives the out-of-fold
probabilities from which the thresholds are chosen. The final weights are fitted on all rows.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bot.answerability import FEATURES, MODEL_PATH, VARIANTS, fit_logistic, predict
from bot.language import detect_lang

L2_GRID = (0.3, 1.0, 3.0, 10.0)
THRESHOLD_GRID = tuple(round(t, 2) for t in np.arange(0.10, 0.91, 0.05))
ANSWER_PRECISION = 0.9  # a plain (not tentative) answer is right at least this often, out of fold
FOLDS = 10
REPEATS = 5  # fold assignments averaged for the out-of-fold probabilities


def read_questions(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def training_rows(engine, files: list[Path]) -> list[dict]:
    rows = []
    for path in files:
        for q in read_questions(path):
            if q.get("kind") not in ("post", "none"):
                continue
            lang = detect_lang(q["q"])
            _, hits, values = engine.post_candidates(q["q"], lang)
            if not hits:
                continue  # nothing matched at all: always declined, nothing to learn
            label = int(q["kind"] == "post" and hits[0].id in set(q.get("expect") or []))
            rows.append({"group": _group(path), "id": q["id"], "kind": q["kind"], "lang": q.get("lang", lang),
                         "x": [values[n] for n in FEATURES], "y": label})
    return rows


def _group(path: Path) -> str:
    """Held-out unit: each question file, except that our synthetic files (data/training: answerable and
    unanswerable questions written together) are held out together."""
    return "synthetic" if path.parent.name == "training" else path.stem


def decision_accuracy(rows: list[dict], p: np.ndarray, t: float) -> float:
    """Share of rows decided right at threshold t: a post question answered with the right post,
    a 'none' question declined."""
    ok = sum((pi >= t and r["y"] == 1) if r["kind"] == "post" else (pi < t) for r, pi in zip(rows, p, strict=True))
    return ok / max(1, len(rows))


def _xy(rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([r["x"] for r in rows], float), np.array([r["y"] for r in rows], float)


def out_of_fold(rows: list[dict], l2: float, folds: int = FOLDS, seed: int = 7) -> np.ndarray:
    """Probabilities for every row from a model that never saw it (stratified by label and kind)."""
    order = defaultdict(list)
    for i, r in enumerate(rows):
        order[(r["kind"], r["y"])].append(i)
    rng = random.Random(seed)
    fold_of = np.zeros(len(rows), int)
    for members in order.values():
        rng.shuffle(members)
        for k, i in enumerate(members):
            fold_of[i] = k % folds
    x, y = _xy(rows)
    p = np.zeros(len(rows))
    for k in range(folds):
        train, test = fold_of != k, fold_of == k
        if test.any():
            p[test] = predict(fit_logistic(x[train], y[train], l2), x[test])
    return p


def held_out_by_group(rows: list[dict], l2: float, t: float) -> dict[str, dict]:
    """Fit on every other group, judge the held-out one: the figure closest to unseen questions."""
    out = {}
    for group in sorted({r["group"] for r in rows}):
        train = [r for r in rows if r["group"] != group]
        test = [r for r in rows if r["group"] == group]
        if len({r["y"] for r in train}) < 2:
            continue  # one file only (or one that holds every positive): nothing to fit on without it
        p = predict(fit_logistic(*_xy(train), l2), _xy(test)[0])
        out[group] = {"rows": len(test), "decision_accuracy": round(decision_accuracy(test, p, t), 3),
                      **_by(test, p, t)}
    return out


def _by(rows: list[dict], p: np.ndarray, t: float) -> dict:
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r, pi in zip(rows, p, strict=True):
        ok = (pi >= t and r["y"] == 1) if r["kind"] == "post" else (pi < t)
        for key in (f"kind:{r['kind']}", f"lang:{r['lang']}"):
            tally[key][0] += int(ok)
            tally[key][1] += 1
    return {k: f"{v[0]}/{v[1]}" for k, v in sorted(tally.items())}


def fit_and_report(engine, files: list[Path], out: Path = MODEL_PATH, write: bool = True,
                   only: str | None = None) -> dict:
    """Fit the variants of the model (with and without the semantic features) and write them.

    `only` refits one variant and keeps the other as it is: the lexical variant serves the largest
    stores, so it is best fitted on such a store (the real posts hidden among synthetic ones)."""
    rows = training_rows(engine, files)
    if len({r["y"] for r in rows}) < 2:
        raise SystemExit("need both answerable and unanswerable questions to fit")
    old = json.loads(out.read_text(encoding="utf-8")).get("variants", {}) if out.exists() else {}
    variants = {name: (_fit_variant(rows, names, engine.n_posts) if only in (None, name) else old[name])
                for name, names in VARIANTS.items()}
    model = {
        "_comment": (
            "Answerability model of the answer engine (bot/answerability.py): logistic regression over the "
            "features listed, standardised with mean/scale. Fitted by `python -m bot fit-answerability` on the "
            "post and 'none' questions of: " + ", ".join(p.name for p in files) + ". Two variants: 'semantic' "
            "(every feature) for stores small enough to hold the sentence encoder, 'lexical' (without the "
            "semantic features) for the largest stores, fitted on a store of that size (see each variant's "
            "report.store_posts). Out-of-fold probabilities are averaged over 5 repetitions of 10-fold "
            "cross-validation; the L2 strength minimises their log-loss. Thresholds: 'tentative' maximises the "
            "out-of-fold decision accuracy averaged with its two neighbours on the grid; 'answer' is the lowest threshold whose out-of-fold precision is at least "
            f"{ANSWER_PRECISION}. 'report' holds only cross-validated and held-out figures."),
        "fitted": datetime.now(UTC).strftime("%Y-%m-%d"),
        "variants": variants,
    }
    if write:
        out.write_text(json.dumps(model, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return model


def repeated_out_of_fold(rows: list[dict], l2: float, repeats: int = REPEATS) -> np.ndarray:
    """Out-of-fold probabilities averaged over several random fold assignments: one assignment's luck
    moved the chosen threshold by 0.15 when a few rows changed."""
    return np.mean([out_of_fold(rows, l2, seed=7 + k) for k in range(repeats)], axis=0)


def log_loss(rows: list[dict], p: np.ndarray) -> float:
    y = np.array([r["y"] for r in rows], float)
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))


def smoothed_accuracy(rows: list[dict], p: np.ndarray, t: float) -> float:
    """Decision accuracy averaged over t and its two neighbours on the grid: the middle of a plateau, not
    a spike one question wide."""
    near = [u for u in THRESHOLD_GRID if abs(u - t) <= 0.051]
    return float(np.mean([decision_accuracy(rows, p, u) for u in near]))


def _fit_variant(all_rows: list[dict], names: tuple[str, ...], store_posts: int) -> dict:
    cols = [FEATURES.index(n) for n in names]
    rows = [{**r, "x": [r["x"][i] for i in cols]} for r in all_rows]
    # The regularisation strength by out-of-fold log-loss (a smooth, proper score; accuracy at one threshold
    # jumps with single questions), then the threshold with the best smoothed out-of-fold accuracy.
    by_l2 = {l2: repeated_out_of_fold(rows, l2) for l2 in L2_GRID}
    l2 = min(L2_GRID, key=lambda v: (log_loss(rows, by_l2[v]), -v))
    p = by_l2[l2]
    tentative = max(THRESHOLD_GRID, key=lambda t: (smoothed_accuracy(rows, p, t), -abs(t - 0.5)))
    best_acc = decision_accuracy(rows, p, tentative)
    answered = [t for t in THRESHOLD_GRID if t >= tentative and _precision(rows, p, t) >= ANSWER_PRECISION]
    answer_at = min(answered) if answered else max(THRESHOLD_GRID)
    mean, scale, weights, bias = fit_logistic(*_xy(rows), l2)
    return {
        "features": list(names),
        "mean": [round(float(v), 6) for v in mean],
        "scale": [round(float(v), 6) for v in scale],
        "weights": [round(float(v), 6) for v in weights],
        "bias": round(bias, 6),
        "thresholds": {"answer": answer_at, "tentative": tentative},
        "report": {
            "store_posts": store_posts,
            "rows": len(rows),
            "positives": int(sum(r["y"] for r in rows)),
            "l2": l2,
            "cross_validated": {"folds": FOLDS, "repeats": REPEATS, "decision_accuracy": round(best_acc, 3), **_by(rows, p, tentative)},
            "held_out_files": held_out_by_group(rows, l2, tentative),
            "answer_precision_out_of_fold": round(_precision(rows, p, answer_at), 3),
        },
    }


def _precision(rows: list[dict], p: np.ndarray, t: float) -> float:
    answered = [r for r, pi in zip(rows, p, strict=True) if pi >= t]
    return sum(r["y"] for r in answered) / len(answered) if answered else 1.0


# --------------------------------------------------------------------------- safety thresholds

SAFETY_GRID = tuple(x / 2 for x in range(2, 13))  # cue scores 1.0 .. 6.0
MAX_FALSE_ALARMS = 0.01  # a full referral card on at most 1 % of questions that are not about danger
MAX_SOFT_NOTES = 0.05
SOFT_MIN = 2.0  # a soft note needs two kinds of evidence at least (one is a word, not a situation)  # the one-line note under at most 5 % of them


def safety_rows(engine, files: list[Path]) -> list[dict]:
    """Per question: whether the indicator groups fire, the best cue score, and whether the card that the
    cues would give lists an expected contact among its first three."""
    from bot import safety

    lex = safety.default_lexicon()
    now = engine.clock()
    rows = []
    for path in files:
        for q in read_questions(path):
            group_hit = lex.check(q["q"], use_cues=False)
            cue_hit = lex.check(q["q"]) if group_hit is None else group_hit
            ids = safety.referral_contacts(cue_hit, list(engine.contacts.values()), now) if cue_hit else []
            rows.append({"group": _group(path), "id": q["id"], "kind": q["kind"], "lang": q.get("lang", "?"),
                         "groups": group_hit is not None, "score": cue_hit.score if cue_hit else 0.0,
                         "situations": list(cue_hit.situations) if cue_hit else [],
                         "right": bool(set(q.get("expect") or []) & set(ids[:3]))})
    return rows


def _referred(row: dict, t: float) -> bool:
    return row["groups"] or row["score"] >= t


def _safety_figures(rows: list[dict], t: float) -> dict:
    pos = [r for r in rows if r["kind"] == "safety"]
    neg = [r for r in rows if r["kind"] != "safety"]
    return {"recall": f"{sum(_referred(r, t) and r['right'] for r in pos)}/{len(pos)}",
            "false_alarms": f"{sum(_referred(r, t) for r in neg)}/{len(neg)}"}


def _choose_referral_threshold(rows: list[dict]) -> float:
    neg = [r for r in rows if r["kind"] != "safety"]
    pos = [r for r in rows if r["kind"] == "safety"]
    ok = [t for t in SAFETY_GRID if sum(_referred(r, t) for r in neg) <= MAX_FALSE_ALARMS * len(neg)]
    # The most safety questions rightly referred; then the fewest false alarms; then the lowest threshold
    # (the one that will refer the most of the wordings this data does not show).
    return max(ok or [max(SAFETY_GRID)], key=lambda t: (sum(_referred(r, t) and r["right"] for r in pos),
                                                       -sum(_referred(r, t) for r in neg), -t))


def fit_safety(engine, files: list[Path], write: bool = True) -> dict:
    """Choose the referral and soft-note thresholds of the cue scores; report held-out figures.

    The referral threshold is the one that refers the most safety questions rightly while giving the
    card to at most 1 % of the other questions; figures come from 5-fold cross-validation (threshold
    chosen on four folds, judged on the fifth) and from holding out each file in turn."""
    from bot.safety import DATA_DIR as SAFETY_DIR

    rows = safety_rows(engine, files)
    rng = random.Random(11)
    order = list(range(len(rows)))
    rng.shuffle(order)
    fold_of = {i: k % 5 for k, i in enumerate(order)}
    tallies: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for k in range(5):
        train = [r for i, r in enumerate(rows) if fold_of[i] != k]
        test = [r for i, r in enumerate(rows) if fold_of[i] == k]
        t = _choose_referral_threshold(train)
        for r in test:
            if r["kind"] == "safety":
                keys = [f"recall lang:{r['lang']}", *(f"recall situation:{s}" for s in r["situations"] or ["(none)"]),
                        "recall"]
                for key in keys:
                    tallies[key][0] += int(_referred(r, t) and r["right"])
                    tallies[key][1] += 1
            else:
                for key in ("false_alarms", f"false_alarms lang:{r['lang']}"):
                    tallies[key][0] += int(_referred(r, t))
                    tallies[key][1] += 1
    held_out = {}
    for group in sorted({r["group"] for r in rows}):
        t = _choose_referral_threshold([r for r in rows if r["group"] != group])
        held_out[group] = {"threshold": t, **_safety_figures([r for r in rows if r["group"] == group], t)}
    referral = _choose_referral_threshold(rows)
    neg = [r for r in rows if r["kind"] != "safety" and not r["groups"]]
    soft_ok = [t for t in SAFETY_GRID if SOFT_MIN <= t < referral and sum(r["score"] >= t for r in neg) <= MAX_SOFT_NOTES * len(neg)]
    soft = min(soft_ok) if soft_ok else referral
    report = {"cross_validated": {k: f"{v[0]}/{v[1]}" for k, v in sorted(tallies.items())},
              "held_out_files": held_out, "fitted_on_all": _safety_figures(rows, referral)}
    path = SAFETY_DIR / "cues.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["thresholds"] = {"referral": referral, "soft": soft,
                          "_comment": "Chosen by `python -m bot fit-safety` on " + ", ".join(p.name for p in files)
                          + f"; fitted {datetime.now(UTC).strftime('%Y-%m-%d')}. See 'report' for held-out figures."}
    data["report"] = report
    if write:
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return {"thresholds": {"referral": referral, "soft": soft}, **report}
