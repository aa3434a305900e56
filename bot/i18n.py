"""Message catalogues: one JSON file per interface language in data/i18n/.

The interface speaks the six languages of the people the ministry serves: English, Traditional Chinese,
Indonesian, Vietnamese, Thai and Tagalog. A key missing in one language falls back to English, never
to an error.
"""

from __future__ import annotations

import json
from functools import lru_cache

from bot.config import DATA_DIR

INTERFACE_LANGS = ("en", "zh", "id", "vi", "th", "tl")
LANG_NAMES = {"en": "English", "zh": "繁體中文", "id": "Bahasa Indonesia", "vi": "Tiếng Việt", "th": "ภาษาไทย",
              "tl": "Tagalog"}


@lru_cache(maxsize=8)
def catalogue(lang: str) -> dict:
    path = DATA_DIR / "i18n" / f"{lang}.json"
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def interface_lang(code: str | None) -> str:
    """Telegram language_code (or a detected language) to an interface language."""
    code = (code or "").lower().replace("_", "-")
    base = {"fil": "tl", "in": "id"}.get(code.split("-", 1)[0], code.split("-", 1)[0])
    return base if base in INTERFACE_LANGS else "en"


def t(lang: str, key: str, **values: str) -> str:
    """The text for key in lang (falling back to English), with already-escaped values filled in."""
    text = catalogue(lang).get(key)
    if text is None:
        text = catalogue("en").get(key, key)
    return text.format(**values) if values else text


def tmap(lang: str, key: str) -> dict:
    value = catalogue(lang).get(key)
    if not isinstance(value, dict):
        value = catalogue("en").get(key, {})
    return value


def menu_action(text: str) -> str | None:
    """If text is a label of the menu keyboard (in any language), the command it stands for."""
    return _menu_labels().get(text.strip())


@lru_cache(maxsize=1)
def _menu_labels() -> dict[str, str]:
    return {value: key.removeprefix("menu_") for lang in INTERFACE_LANGS
            for key, value in catalogue(lang).items() if key.startswith("menu_") and isinstance(value, str)}
