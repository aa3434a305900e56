"""Plain records the whole core passes around: posts, contacts, and their validation.

Validation lives here (not in the store) so importers, the CLI and staff tools reject a bad
record with the same message: which record, which field, what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date
from types import MappingProxyType

CATEGORIES = ("news", "workshop", "anti-trafficking", "cooperation", "announcement")
# One shared, read-only "no translations" value: 100,000 untranslated posts need no 100,000 empty dicts.
NO_TRANSLATIONS: Mapping[str, Mapping[str, str]] = MappingProxyType({})
# Languages a record may carry translations in (BCP 47 tags as the ministry's sites use them).
CONTENT_LANGS = ("en", "zh-TW", "id", "vi", "th", "tl")
POST_I18N_FIELDS = ("title", "summary", "body")
CONTACT_I18N_FIELDS = ("name", "purpose", "hours", "languages")
_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


class RecordError(ValueError):
    """A record that cannot go into the store; the message names the record and the field."""


@dataclass(frozen=True, slots=True)
class Post:
    id: str
    title: str
    date: str  # ISO YYYY-MM-DD
    category: str
    body: str
    url: str = ""
    tags: tuple[str, ...] = ()
    # Alternate phrasings staff add so the matcher finds the post for them too.
    questions: tuple[str, ...] = ()
    # Provenance: where the post came from and when it entered or changed in the store.
    source: str = ""
    # The document the post was read from by an importer (a feed, a list page, the post's page);
    # staff provenance, never shown to citizens (they get `url`).
    source_url: str = ""
    imported_at: str = ""
    updated_at: str = ""
    # Translations by language tag: {"zh-TW": {"title": ..., "summary": ..., "body": ...}}.
    i18n: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: NO_TRANSLATIONS, hash=False)

    @property
    def year(self) -> int:
        return int(self.date[:4])

    def text(self, lang: str, key: str) -> str:
        """A translated field ("title", "summary", "body") in `lang`, or "" when the post has none."""
        return self.i18n.get(content_lang(lang), {}).get(key, "")

    def to_record(self) -> dict:
        rec = _plain(self)
        rec["tags"] = list(self.tags)
        rec["questions"] = list(self.questions)
        for key in ("source_url", "i18n"):
            if not rec[key]:
                del rec[key]
        return rec


@dataclass(frozen=True, slots=True)
class Contact:
    id: str
    name: str
    phone: str
    agency: str = ""
    alt_phones: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    hours: str = ""
    address: str | None = None
    url: str = ""  # where the facts were verified (provenance for staff)
    notes: str = ""  # what was verified and what not (for staff, never shown to citizens)
    page_url: str = ""  # an official page for citizens: the card's "Read more"
    # Citizen-facing card text by language: {"zh-TW": {"name", "purpose", "hours", "languages"}}.
    i18n: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: NO_TRANSLATIONS, hash=False)

    def text(self, lang: str, key: str) -> str:
        """A card field in `lang`, else the English card text, else "" (callers fall back to the record)."""
        for tag in (content_lang(lang), "en"):
            value = self.i18n.get(tag, {}).get(key, "")
            if value:
                return value
        return ""

    def to_record(self) -> dict:
        rec = _plain(self)
        for key in ("alt_phones", "topics", "languages"):
            rec[key] = list(rec[key])
        for key in ("page_url", "i18n"):
            if not rec[key]:
                del rec[key]
        return rec


def _plain(record: Post | Contact) -> dict:
    """The record's fields as a JSON-ready dict (translations copied into plain dicts)."""
    rec = {f.name: getattr(record, f.name) for f in fields(record)}
    rec["i18n"] = {lang: dict(texts) for lang, texts in record.i18n.items()}
    return rec


def content_lang(lang: str) -> str:
    """Interface language code (en, zh, id…) to the record's language tag (en, zh-TW, id…)."""
    return "zh-TW" if lang.lower().startswith("zh") else lang


@dataclass(slots=True)
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[str] = field(default_factory=list)
    added_ids: list[str] = field(default_factory=list)  # which records were new (the feeds announce them)


def _label(raw: object, index: int | None) -> str:
    rid = raw.get("id") if isinstance(raw, dict) else None
    where = f"#{index}" if index is not None else ""
    return f"record {where} id={rid!r}".replace("  ", " ") if rid else f"record {where}".strip()


def _text(raw: dict, key: str, label: str, *, required: bool = True, max_len: int = 20_000) -> str:
    value = raw.get(key)
    if value is None or value == "":
        if required:
            raise RecordError(f"{label}: field '{key}' is required")
        return ""
    if not isinstance(value, str):
        raise RecordError(f"{label}: field '{key}' must be text, got {type(value).__name__}")
    value = value.strip()
    if required and not value:
        raise RecordError(f"{label}: field '{key}' is empty")
    if len(value) > max_len:
        raise RecordError(f"{label}: field '{key}' is longer than {max_len} characters")
    return value


def _texts(raw: dict, key: str, label: str) -> tuple[str, ...]:
    value = raw.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RecordError(f"{label}: field '{key}' must be a list of text")
    return tuple(v.strip() for v in value if v.strip())


def _i18n(raw: dict, label: str, allowed: tuple[str, ...], required: tuple[str, ...]) -> Mapping[str, Mapping[str, str]]:
    """Translations: {lang: {field: text}} with known languages and fields, no empty text."""
    value = raw.get("i18n") or {}
    if not isinstance(value, dict):
        raise RecordError(f"{label}: field 'i18n' must be an object of languages")
    out: dict[str, dict[str, str]] = {}
    for lang, texts_in in value.items():
        where = f"i18n.{lang}"
        if lang not in CONTENT_LANGS:
            raise RecordError(f"{label}: field '{where}' is not a supported language ({', '.join(CONTENT_LANGS)})")
        if not isinstance(texts_in, dict):
            raise RecordError(f"{label}: field '{where}' must be an object of {', '.join(allowed)}")
        unknown = [k for k in texts_in if k not in allowed]
        if unknown:
            raise RecordError(f"{label}: field '{where}.{unknown[0]}' is unknown (allowed: {', '.join(allowed)})")
        texts = {k: _text(texts_in, k, f"{label}: {where}", required=k in required) for k in allowed}
        texts = {k: v for k, v in texts.items() if v}
        if texts:
            out[lang] = texts
    return out or NO_TRANSLATIONS


def _record_id(raw: dict, label: str) -> str:
    rid = raw.get("id")
    if not isinstance(rid, str) or not _ID_RE.match(rid):
        raise RecordError(f"{label}: field 'id' must be 1-40 letters, digits, '-' or '_'")
    return rid


def post_from_record(raw: object, index: int | None = None) -> Post:
    """Validate one raw post record (as found in JSON) and return a Post."""
    label = _label(raw, index)
    if not isinstance(raw, dict):
        raise RecordError(f"{label}: a post must be a JSON object")
    rid = _record_id(raw, label)
    day = _text(raw, "date", label)
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        raise RecordError(f"{label}: field 'date' must be an ISO date YYYY-MM-DD, got {day!r}") from None
    if len(day) != 10:
        raise RecordError(f"{label}: field 'date' must be an ISO date YYYY-MM-DD, got {day!r}")
    category = _text(raw, "category", label)
    if category not in CATEGORIES:
        raise RecordError(f"{label}: field 'category' must be one of {', '.join(CATEGORIES)}, got {category!r}")
    url = _url(raw, "url", label)
    return Post(
        id=rid,
        title=_text(raw, "title", label, max_len=300),
        date=parsed.isoformat(),
        category=category,
        body=_text(raw, "body", label),
        url=url,
        tags=_texts(raw, "tags", label),
        questions=_texts(raw, "questions", label),
        source=_text(raw, "source", label, required=False, max_len=2000),
        source_url=_url(raw, "source_url", label),
        imported_at=_text(raw, "imported_at", label, required=False, max_len=40),
        updated_at=_text(raw, "updated_at", label, required=False, max_len=40),
        i18n=_i18n(raw, label, POST_I18N_FIELDS, ("title",)),
    )


def contact_from_record(raw: object, index: int | None = None) -> Contact:
    """Validate one raw contact record and return a Contact."""
    label = _label(raw, index)
    if not isinstance(raw, dict):
        raise RecordError(f"{label}: a contact must be a JSON object")
    address = raw.get("address")
    if address is not None and not isinstance(address, str):
        raise RecordError(f"{label}: field 'address' must be text or null")
    return Contact(
        id=_record_id(raw, label),
        name=_text(raw, "name", label, max_len=300),
        phone=_text(raw, "phone", label, max_len=60),
        agency=_text(raw, "agency", label, required=False, max_len=300),
        alt_phones=_texts(raw, "alt_phones", label),
        topics=_texts(raw, "topics", label),
        languages=_texts(raw, "languages", label),
        hours=_text(raw, "hours", label, required=False, max_len=500),
        address=address.strip() if isinstance(address, str) and address.strip() else None,
        url=_text(raw, "url", label, required=False, max_len=2000),
        notes=_text(raw, "notes", label, required=False, max_len=5000),
        page_url=_url(raw, "page_url", label),
        i18n=_i18n(raw, label, CONTACT_I18N_FIELDS, ("name",)),
    )


def _url(raw: dict, key: str, label: str) -> str:
    url = _text(raw, key, label, required=False, max_len=2000)
    if url and not url.startswith(("https://", "http://")):
        raise RecordError(f"{label}: field '{key}' must start with https:// or http://")
    return url


def with_translations(record: Post | Contact, known: Post | Contact | None) -> Post | Contact:
    """A record without translations takes those of the same record already known (same id and the same
    English source: URL, or title/name): a file of English posts is answered in every language the store
    holds for them, and an import that says nothing about translations does not erase them."""
    if record.i18n or known is None or not known.i18n:
        return record
    same = (record.url and record.url == known.url) or (
        getattr(record, "title", None) or getattr(record, "name", None)) == (
        getattr(known, "title", None) or getattr(known, "name", None))
    if not same:
        return record
    extra = {"page_url": known.page_url} if isinstance(record, Contact) and not record.page_url else {}
    return replace(record, i18n=known.i18n, **extra)


def is_contact_record(raw: object) -> bool:
    """Contacts carry a phone; posts carry a body. Lets one import command take either."""
    return isinstance(raw, dict) and "phone" in raw and "body" not in raw
