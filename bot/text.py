"""Text normalisation and tokenising shared by the matcher, the safety check and the renderer.

Everything here is pure and bounded: input is capped before any work, and no regular
expression is ever built from user text.
"""

from __future__ import annotations

import re
import unicodedata

MAX_QUERY_CHARS = 500  # people type questions, not essays; longer text is cut before matching

# Invisible characters that change nothing for a reader but split or join words for a matcher.
_INVISIBLE = dict.fromkeys(
    map(ord, "\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u00ad\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"),
    None,
)
_LATIN_EXTRA = str.maketrans({"đ": "d", "Đ": "D", "ø": "o", "ł": "l", "ß": "ss", "æ": "ae", "œ": "oe"})
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Remaining format characters (Unicode category Cf) that _INVISIBLE does not name.
_OTHER_FORMAT_RE = re.compile(r"[\u0600-\u0605\u061c\u06dd\u070f\u180e\u2061-\u2064\u206a-\u206f\ufff9-\ufffb\U000e0001-\U000e007f]")
# Letters and digits, plus Thai vowel and tone marks (Unicode marks, not letters: without them a Thai
# word would fall apart at every vowel sign).
_WORD_RE = re.compile(r"(?:[^\W_]|[\u0e31\u0e34-\u0e3a\u0e47-\u0e4e])+", re.UNICODE)
_HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_THAI_RE = re.compile(r"[\u0e00-\u0e7f]")


def clean(text: str, limit: int = MAX_QUERY_CHARS) -> str:
    """NFKC, drop invisible and control characters, collapse spaces, cap the length."""
    text = text[: limit * 4]
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE)
        text = _OTHER_FORMAT_RE.sub("", text)
    text = _CONTROL_RE.sub(" ", text)
    return " ".join(text.split())[:limit]


def fold_latin(text: str) -> str:
    """Remove accents from Latin letters only ("khóa" -> "khoa"); Thai vowel marks stay."""
    if text.isascii():
        return text
    text = text.translate(_LATIN_EXTRA)
    out: list[str] = []
    for ch in unicodedata.normalize("NFD", text):
        if unicodedata.combining(ch) and out and out[-1].isascii():
            continue
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


def normalise(text: str, limit: int = MAX_QUERY_CHARS) -> str:
    """Lower-case, accent-folded, punctuation-free text for matching."""
    text = fold_latin(clean(text, limit).casefold())
    return " ".join(_WORD_RE.findall(text))


def words(text: str) -> list[str]:
    """Word tokens of already-normalised text (Han and Thai runs stay whole)."""
    return _WORD_RE.findall(text)


def has_searchable(text: str) -> bool:
    """True if the text has at least one letter or digit (emoji and punctuation alone do not count)."""
    return any(ch.isalnum() for ch in text)


def han_chars(text: str) -> list[str]:
    return _HAN_RE.findall(text)


def has_han(text: str) -> bool:
    return _HAN_RE.search(text) is not None


def has_thai(text: str) -> bool:
    return _THAI_RE.search(text) is not None


def han_bigrams(text: str) -> list[str]:
    """Overlapping character pairs of each Han run: the usual unit for matching Chinese without a segmenter."""
    grams: list[str] = []
    for run in re.findall(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+", text):
        if len(run) == 1:
            grams.append(run)
        grams.extend(run[i : i + 2] for i in range(len(run) - 1))
    return grams


_THAI_RUN_RE = re.compile(r"[\u0e01-\u0e4e]+")


def thai_trigrams(text: str) -> list[str]:
    """Overlapping character triples of each Thai run: Thai is written without spaces between words,
    and triples match words across spelling and segmentation differences without a dictionary."""
    grams: list[str] = []
    for run in _THAI_RUN_RE.findall(text):
        if len(run) <= 3:
            grams.append(run)
        grams.extend(run[i : i + 3] for i in range(len(run) - 2))
    return grams


def script_grams(text: str) -> list[str]:
    """Index units of the scripts written without spaces: Han pairs and Thai triples."""
    out = han_bigrams(text) if has_han(text) else []
    if has_thai(text):
        out += thai_trigrams(text)
    return out


_ROC_YEAR_RE = re.compile(r"(?:民國|民国)?\s*(?<!\d)(\d{2,3})\s*年")  # not the tail of "1990年"
ROC_OFFSET = 1911  # Republic of China year 1 is 1912


def roc_years(text: str) -> list[int]:
    """Gregorian years of Republic of China years written in Chinese ("民國107年", "110年" -> 2018, 2021).

    Taiwan writes dates in ROC years; only 60-130 (1971-2041) are read as years, so "10年" (ten years)
    and "五年來" stay durations."""
    out = []
    for m in _ROC_YEAR_RE.finditer(text):
        n = int(m.group(1))
        if 60 <= n <= 130:
            out.append(n + ROC_OFFSET)
    return out


def truncate_words(text: str, limit: int, ellipsis: str = "…") -> str:
    """Cut text to at most `limit` characters on a word boundary."""
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - len(ellipsis))]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-") + ellipsis


_ATTACHED_YEAR_RE = re.compile(r"(?<!\d)(19[5-9]\d|20[0-4]\d|25[0-9]\d)(?!\d)")
BUDDHIST_OFFSET = 543  # Thai years are often written in the Buddhist Era: 2567 BE is 2024


def attached_years(text: str) -> list[int]:
    """Gregorian years written against other script ("2021年", "ปี2024") that word boundaries miss, and in
    Thai text, Buddhist Era years ("พ.ศ. 2567" -> 2024)."""
    thai = has_thai(text)
    out = []
    for m in _ATTACHED_YEAR_RE.finditer(text):
        n = int(m.group(1))
        if n >= 2500:
            if not thai or not 1950 <= n - BUDDHIST_OFFSET <= 2049:
                continue
            n -= BUDDHIST_OFFSET
        if n not in out:
            out.append(n)
    return out
