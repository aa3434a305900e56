"""What the question log may keep: the question with anything that identifies a person masked.

Staff read the log to add posts and phrasings; they need the words of a question, not the phone
number, passport or residence-permit number, bank account or e-mail address someone typed into
it. Every run of 4 or more digits (also written with spaces, dots or dashes between groups, as
phone numbers are) and every e-mail address becomes "#" characters / "[email]". Nothing here
imports Telegram.
"""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[^\s@<>()\[\],;:\"']+@[^\s@<>()\[\],;:\"']+\.[^\s@<>()\[\],;:\"']+")
# Digits, possibly grouped by single separators ("0912-345-678", "+886 2 8195 8151"), 4 or more in all.
_DIGIT_RUN = re.compile(r"\+?\d(?:[ .\-/]?\d)+")
MASK = "#"


def _mask_digits(match: re.Match) -> str:
    run = match.group()
    if sum(ch.isdigit() for ch in run) < 4:
        return run
    return "".join(MASK if ch.isdigit() else ch for ch in run)


def mask_personal(text: str) -> str:
    """The text with e-mail addresses and digit runs of 4 or more masked."""
    text = _EMAIL.sub("[email]", text)
    return _DIGIT_RUN.sub(_mask_digits, text)
