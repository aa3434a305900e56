"""Should the engine answer with its best post? A calibrated probability, not a hand-set threshold.

The matcher ranks posts well; deciding whether the best one answers the question is the hard part.
A logistic regression over signals the engine already computes (how much of the question the post and
its best paragraph hold, the lead over the runner-up, year agreement, words no post knows, the script
and language) gives the probability that the best post is right. Its weights and the two thresholds
(answer / tentative answer) are data, `data/answerability.json`, rebuilt by
`python -m bot fit-answerability` (see that command for how they are fitted and cross-validated).
NumPy only: a dozen weights need no machine-learning framework at run time.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.answer_types import Hit
from bot.config import DATA_DIR
from bot.matcher import YEAR_OTHER, QueryPlan

MODEL_PATH = DATA_DIR / "answerability.json"

FEATURES = (
    "score",  # the best post's score, 0-1
    "coverage",  # share of the question's weight the post holds
    "title",  # ... in its title-like fields
    "bm25",
    "margin",  # lead of the best post's raw score over the runner-up's
    "passage",  # share of the question's weight in the post's best paragraph
    "passage_margin",  # ... over the runner-ups' best paragraphs
    "year_about",  # the question names a year and the post is about it
    "year_other",  # ... the post is about another year
    "year_mention",  # ... the post only mentions it
    "unknown",  # weight of words no post holds, as a share of the question's weight
    "terms",  # log(1 + number of informative words the store knows)
    "script_known",  # share of the question's Han pairs / Thai triples some post holds
    "script",  # the question is written in Chinese or Thai
    "latin_foreign",  # the question is Indonesian, Vietnamese or Tagalog
    "unmatched_top",  # the rarest question word the post lacks, relative to the rarest word asked
    "unmatched_share",  # share of the known words' weight the post lacks
    "numbers_missing",  # share of the counts and ordinals asked about ("ninth meeting") the post lacks
    "semantic",  # cosine in meaning of the question with the post's closest unit (bot/semantic.py)
    "semantic_margin",  # ... minus the best runner-up's
    "semantic_top",  # the best post is also the closest in meaning among the candidates
)


SEMANTIC_FEATURES = ("semantic", "semantic_margin", "semantic_top")
# The full model, and one without the sentence encoder for stores too large to keep it in memory.
VARIANTS = {"semantic": FEATURES, "lexical": tuple(f for f in FEATURES if f not in SEMANTIC_FEATURES)}


def features(plan: QueryPlan, hits: Sequence[Hit], passage: Sequence[float], lang: str,
             has_term: callable, semantic: Sequence[float]) -> dict[str, float]:
    """The signals for the best of `hits` (ranked), with `passage[i]` the best-paragraph share of hits[i]
    and `semantic[i]` its closeness in meaning. `has_term(term, doc_id)` tells whether a document holds a term."""
    best = hits[0]
    runner = hits[1] if len(hits) > 1 else None
    parts = best.parts
    mass = plan.mass or 1.0
    known = sum(plan.terms.values()) or 1.0
    unmatched = [w for t, w in plan.terms.items() if not has_term(t, best.id)]
    year = parts.get("year", 0.0)
    asked_year = bool(plan.years)
    return {
        "score": best.score / 100,
        "coverage": parts.get("coverage", 0.0),
        "title": parts.get("title", 0.0),
        "bm25": parts.get("bm25", 0.0),
        "margin": parts.get("raw", 0.0) - (runner.parts.get("raw", 0.0) if runner else 0.0),
        "passage": passage[0] if passage else 0.0,
        "passage_margin": (passage[0] - max(passage[1:], default=0.0)) if passage else 0.0,
        "year_about": float(asked_year and year > 0),
        "year_other": float(asked_year and year <= YEAR_OTHER),
        "year_mention": float(asked_year and YEAR_OTHER < year < 0),
        "unknown": plan.unknown_weight * len(plan.unknown) / mass,
        "terms": math.log1p(sum(1 for t in plan.terms if t.isascii())),
        "script_known": plan.script_known / plan.script_grams if plan.script_grams else 0.0,
        "script": float(lang in ("zh", "th")),
        "latin_foreign": float(lang in ("id", "vi", "tl")),
        "unmatched_top": max(unmatched, default=0.0) / (max(plan.terms.values(), default=1.0) or 1.0),
        "unmatched_share": sum(unmatched) / known,
        "numbers_missing": (sum(1 for n in plan.numbers if not has_term(n, best.id)) / len(plan.numbers)
                            if plan.numbers else 0.0),
        "semantic": semantic[0] if semantic else 0.0,
        "semantic_margin": (semantic[0] - max(semantic[1:], default=0.0)) if semantic else 0.0,
        "semantic_top": float(bool(semantic) and semantic[0] >= max(semantic)),
    }


@dataclass(frozen=True)
class AnswerabilityModel:
    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    answer_at: float  # probability from which the bot answers plainly
    tentative_at: float  # ... from which it answers "I think this is it" with alternatives

    @classmethod
    def load(cls, path: Path = MODEL_PATH, variant: str = "semantic") -> AnswerabilityModel:
        raw = json.loads(path.read_text(encoding="utf-8"))["variants"][variant]
        names = tuple(raw["features"])
        unknown = set(names) - set(FEATURES)
        if unknown:
            raise ValueError(f"{path}: unknown feature {sorted(unknown)[0]}")
        return cls(names, np.asarray(raw["mean"], float), np.asarray(raw["scale"], float),
                   np.asarray(raw["weights"], float), float(raw["bias"]),
                   float(raw["thresholds"]["answer"]), float(raw["thresholds"]["tentative"]))

    @property
    def semantic(self) -> bool:
        return any(n in SEMANTIC_FEATURES for n in self.names)

    def probability(self, values: dict[str, float]) -> float:
        x = np.fromiter((values[n] for n in self.names), float, len(self.names))
        z = float(((x - self.mean) / self.scale) @ self.weights + self.bias)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def contributions(self, values: dict[str, float]) -> dict[str, float]:
        """Each feature's push on the log-odds: what `explain` shows staff."""
        return {n: round(float((values[n] - m) / s * w), 3)
                for n, m, s, w in zip(self.names, self.mean, self.scale, self.weights, strict=True)}


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iterations: int = 50
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """L2-regularised logistic regression by Newton's method on standardised features.

    Returns (mean, scale, weights, bias)."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    penalty = np.r_[np.full(z.shape[1] - 1, l2), 0.0]
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -30, 30)))
        grad = z.T @ (p - y) + penalty * w
        hess = (z.T * (p * (1 - p))) @ z + np.diag(penalty) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return mean, scale, w[:-1], float(w[-1])


def predict(model: tuple[np.ndarray, np.ndarray, np.ndarray, float], x: np.ndarray) -> np.ndarray:
    mean, scale, weights, bias = model
    return 1.0 / (1.0 + np.exp(-np.clip(((x - mean) / scale) @ weights + bias, -30, 30)))
