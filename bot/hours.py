"""When, and in which language, a contact can be reached: parsed from the contact's own `hours` text.

Why parse instead of storing a schedule: contacts.json is written by researchers in plain English
("8 a.m. to 10 p.m., every day", "Mandarin, English and Japanese 24 hours, all year; Vietnamese ...
Monday-Friday, 8 hours a day"). Reading that text keeps one source of truth; whatever the text does not
state stays unknown (None), so the bot never claims a line is open when nobody checked.

All times are Asia/Taipei. A naive datetime is taken to be Taipei local time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone, tzinfo
from functools import lru_cache

from bot.models import Contact

try:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    TAIPEI: tzinfo = ZoneInfo("Asia/Taipei")
except (ImportError, ZoneInfoNotFoundError):  # no tz database: Taiwan has had no daylight saving since 1979
    TAIPEI = timezone(timedelta(hours=8), "Asia/Taipei")

ALL_DAYS = frozenset(range(7))
WEEKDAYS = frozenset(range(5))

# Language codes used across the safety check, cards and directory, with the English names the
# contact data uses for them. Text before a "(" in a languages entry is what the contact serves;
# the bracket holds qualifiers ("Mandarin (English usually not spoken ...)").
LANGUAGE_NAMES: dict[str, tuple[str, ...]] = {
    "zh": ("mandarin", "chinese"),
    "en": ("english",),
    "ja": ("japanese",),
    "vi": ("vietnamese",),
    "id": ("indonesian",),
    "th": ("thai",),
    "km": ("khmer", "cambodian"),
    "tl": ("tagalog", "filipino"),
}
_LANG_RE = re.compile(r"\b(" + "|".join(n for names in LANGUAGE_NAMES.values() for n in names) + r")\b")
_NAME_TO_CODE = {name: code for code, names in LANGUAGE_NAMES.items() for name in names}

# Words in an hours text that mean "do not rely on this".
_UNVERIFIED = ("not verified", "unverified", "unknown", "not confirmed", "historically", "not found")
_ALL_DAY = re.compile(r"\b24\s*(?:hours?|h\b|hrs?)|\b24/7\b|around the clock|round the clock")
_EVERY_DAY = re.compile(r"every day|daily|all year|365 days|7 days a week|seven days")
_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_RANGE = re.compile(
    r"\b(mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?\s*(?:-|–|to|through)\s*(mon|tue|wed|thu|fri|sat|sun)[a-z]*"
)
_WEEKDAY_WORD = re.compile(r"\bweekdays?\b")
_WEEKEND_WORD = re.compile(r"\bweekends?\b")
_CLOCK = r"(\d{1,2})(?:[:.](\d{2}))?\s*(a\.?\s?m\.?|p\.?\s?m\.?)?"
_TIME_RANGE = re.compile(_CLOCK + r"\s*(?:-|–|to|until)\s*" + _CLOCK)


@dataclass(frozen=True, slots=True)
class Window:
    """One stated service period: who is served (empty = every language of the contact), when."""

    languages: frozenset[str]
    days: frozenset[int] | None  # Monday = 0; None when the text does not say which days
    start: int | None = None  # minutes after midnight; None when the text gives no clock times
    end: int | None = None
    all_day: bool = False

    def state(self, local: datetime) -> bool | None:
        """True open, False closed, None when the text does not say enough for this moment."""
        if self.days is None:
            return None
        today = local.weekday() in self.days
        if self.all_day:
            return today
        if self.start is None or self.end is None:
            return None if today else False
        minute = local.hour * 60 + local.minute
        if self.start <= self.end:
            return today and self.start <= minute < self.end
        # Past midnight: the early hours belong to the window that opened the day before.
        yesterday = (local.weekday() - 1) % 7 in self.days
        return (today and minute >= self.start) or (yesterday and minute < self.end)


@dataclass(frozen=True, slots=True)
class Hours:
    verified: bool
    windows: tuple[Window, ...]


def taipei(now: datetime) -> datetime:
    """`now` as Taipei local time (a naive datetime is already Taipei time)."""
    return now.replace(tzinfo=TAIPEI) if now.tzinfo is None else now.astimezone(TAIPEI)


@lru_cache(maxsize=256)
def parse_hours(text: str) -> Hours:
    """Read an hours text into windows; anything hedged or unparseable is unverified."""
    low = " ".join(text.casefold().split())
    if not low or any(marker in low for marker in _UNVERIFIED):
        return Hours(False, ())
    windows = tuple(w for w in map(_parse_segment, low.split(";")) if w is not None)
    return Hours(bool(windows), windows)


def _parse_segment(segment: str) -> Window | None:
    langs = frozenset(_NAME_TO_CODE[m] for m in _LANG_RE.findall(segment))
    days = _parse_days(segment)
    if _ALL_DAY.search(segment):
        return Window(langs, days if days is not None else ALL_DAYS, all_day=True)
    match = _TIME_RANGE.search(segment)
    if match:
        start = _minutes(match.group(1), match.group(2), match.group(3))
        end = _minutes(match.group(4), match.group(5), match.group(6))
        if start is not None and end is not None:
            return Window(langs, days, start, end)
    if days is not None:
        return Window(langs, days)
    return None


def _parse_days(segment: str) -> frozenset[int] | None:
    if _EVERY_DAY.search(segment):
        return ALL_DAYS
    match = _DAY_RANGE.search(segment)
    if match:
        first, last = _DAY_NAMES.index(match.group(1)), _DAY_NAMES.index(match.group(2))
        return frozenset((first + i) % 7 for i in range((last - first) % 7 + 1))
    if _WEEKDAY_WORD.search(segment):
        return WEEKDAYS
    if _WEEKEND_WORD.search(segment):
        return frozenset({5, 6})
    return None


def _minutes(hour: str, minute: str | None, meridiem: str | None) -> int | None:
    h, m = int(hour), int(minute or 0)
    if meridiem:
        if not 1 <= h <= 12:
            return None
        h = h % 12 + (12 if meridiem.startswith("p") else 0)
    if h > 24 or m > 59:
        return None
    return min(h * 60 + m, 24 * 60)


def _relevant(windows: tuple[Window, ...], language: str | None) -> list[Window]:
    if language is None:
        return list(windows)
    return [w for w in windows if not w.languages or language in w.languages]


def open_now(contact: Contact, now: datetime, language: str | None = None) -> bool | None:
    """Is the contact open at `now` (in `language`, if given)? None when its hours do not say."""
    hours = parse_hours(contact.hours)
    windows = _relevant(hours.windows, language)
    if not hours.verified or not windows:
        return None
    states = [w.state(taipei(now)) for w in windows]
    if True in states:
        return True
    return False if all(s is False for s in states) else None


def is_24h(contact: Contact, language: str | None = None) -> bool:
    """True only when the hours text states round-the-clock service every day (for `language`)."""
    hours = parse_hours(contact.hours)
    return hours.verified and any(
        w.all_day and w.days == ALL_DAYS for w in _relevant(hours.windows, language)
    )


def served_languages(contact: Contact) -> list[str]:
    """Language codes the contact's `languages` list states it serves.

    Only the text before a bracket counts; an entry whose bracket hedges the entry itself
    ("Mandarin (not confirmed)") is left out, so a card never claims a language nobody checked.
    """
    codes: list[str] = []
    for entry in contact.languages:
        head, _, qualifier = entry.casefold().partition("(")
        if qualifier.strip().startswith(_UNVERIFIED):
            continue
        for name in _LANG_RE.findall(head):
            if _NAME_TO_CODE[name] not in codes:
                codes.append(_NAME_TO_CODE[name])
    return codes


def languages_open_now(contact: Contact, now: datetime) -> list[str]:
    """Language codes in which the contact is known to be answering at `now`."""
    hours = parse_hours(contact.hours)
    if not hours.verified:
        return []
    served = served_languages(contact)
    local = taipei(now)
    open_codes: list[str] = []
    for window in hours.windows:
        if window.state(local) is True:
            codes = sorted(
                window.languages, key=lambda c: (c not in served, served.index(c) if c in served else 0, c)
            )
            open_codes += [c for c in codes or served if c not in open_codes]
    return open_codes


def next_opening(contact: Contact, now: datetime, language: str | None = None) -> datetime | None:
    """The next stated opening time after `now` within a week, or None if the text gives none."""
    hours = parse_hours(contact.hours)
    if not hours.verified:
        return None
    local = taipei(now)
    best: datetime | None = None
    for window in _relevant(hours.windows, language):
        if window.start is None or window.days is None:
            continue
        for ahead in range(8):
            day = local.date() + timedelta(days=ahead)
            start = datetime.combine(day, time(0), tzinfo=TAIPEI) + timedelta(minutes=window.start)
            if day.weekday() in window.days and start > local:
                best = start if best is None else min(best, start)
                break
    return best
