"""The plain result every front end (Telegram, console, batch mode) receives from the engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

AnswerKind = Literal["post", "contact", "referral", "list", "none"]


@dataclass(frozen=True, slots=True)
class Hit:
    """One ranked result: a post or contact id, its score (0-100) and the parts the score came from."""

    id: str
    score: float
    parts: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Answer:
    kind: AnswerKind
    hits: tuple[Hit, ...] = ()
    query: str = ""
    # Why the engine chose this kind: "no-text", "low-score", "match", "tentative", "safety", "latest", ...
    reason: str = ""
    # Language the person wrote in (en, zh, id, vi, th, tl); render answers in it where it can.
    lang: str = "en"
    # For referrals: the situations that fired (e.g. "locked_in", "documents_withheld").
    situations: tuple[str, ...] = ()
    # Close candidates offered as "Did you mean…" when the engine declines a near tie.
    suggestions: tuple[Hit, ...] = ()
    # Below the referral threshold but with signs of danger: the contact ids of a one-line safety note.
    safety_note: tuple[str, ...] = ()
    # For post answers and declines: the probability that the best post answers the question.
    confidence: float = 0.0
    ms: float = 0.0

    @property
    def ids(self) -> list[str]:
        return [h.id for h in self.hits]
