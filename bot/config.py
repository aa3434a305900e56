"""Settings from the environment and an optional .env file, validated once at start-up.

A malformed value stops start-up with one line naming the setting. The token is kept out of
repr() so it never reaches a log or a traceback.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"
BUNDLED_STORE = DATA_DIR / "store.json"
DEFAULT_API_BASE = "https://api.telegram.org/bot"
_TOKEN_RE = re.compile(r"^\d{3,20}:[A-Za-z0-9_-]{20,100}$")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    token: str = field(default="", repr=False)
    api_base_url: str = DEFAULT_API_BASE
    db_path: Path = BUNDLED_STORE
    state_path: Path | None = None  # operational SQLite store; default beside db_path
    staff_ids: frozenset[int] = frozenset()
    log_level: str = "INFO"
    webhook_url: str = ""
    webhook_secret: str = field(default="", repr=False)
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8443
    question_log_days: int = 30
    broadcast_rate: float = 25.0
    reply_max_rate: float = 0.0  # 0: no overall cap on replies (the per-group cap and 429 retries stay)
    rate_limit_per_minute: int = 20
    burst_window_s: float = 1.5  # a person's forwards and fast messages are read together after this quiet time
    log_personal: bool = False  # BOT_LOG_PERSONAL=1: let the library's loggers print names and texts (debugging)
    digest_time: str = "09:00"  # BOT_DIGEST_TIME: the daily unanswered-questions digest to staff (Asia/Taipei), or off
    feed_urls: tuple[str, ...] = ()  # BOT_FEED_URLS: news sources read on a schedule (bot/feeds.py)
    feed_interval_s: float = 3600.0  # BOT_FEED_INTERVAL
    feed_announce: tuple[str, ...] = ("off",)  # BOT_FEED_ANNOUNCE: one mode for all sources, or one per source
    feed_timeout_s: float = 20.0  # BOT_FEED_TIMEOUT: seconds one source may take to answer

    def feed_announce_for(self, url: str) -> str:
        """BOT_FEED_ANNOUNCE's mode for one source (staff may override it with /feed_announce)."""
        if len(self.feed_announce) == 1 or url not in self.feed_urls:
            return self.feed_announce[0]
        return self.feed_announce[self.feed_urls.index(url)]

    @property
    def operational_path(self) -> Path:
        return self.state_path or self.db_path.with_name(self.db_path.stem + ".state.sqlite3")

    @property
    def lock_path(self) -> Path:
        return self.db_path.with_name(self.db_path.name + ".lock")


def _read_env_file(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _rate(env: Mapping[str, str], name: str, default: float, lo: float, hi: float = 1000.0,
          unit: str = "messages per second") -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be {unit}, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must be between {lo:g} and {hi:g}, got {value:g}")
    return value


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr|d)?$")
_DURATION_UNITS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400}


def _duration(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    m = _DURATION.match(raw)
    if not m:
        raise ConfigError(f"{name} must be a duration like 3600, 90s, 30m or 1h, got {raw!r}")
    value = float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must be between {lo:g} and {hi:g} seconds, got {value:g}")
    return value


def _feeds(env: Mapping[str, str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    urls: list[str] = []
    for part in re.split(r"[\s,]+", env.get("BOT_FEED_URLS", "").strip()):
        if not part:
            continue
        if not re.match(r"^https?://[^\s/]+", part):
            raise ConfigError(f"BOT_FEED_URLS must be http(s) URLs separated by commas or spaces, got {part!r}")
        if part not in urls:
            urls.append(part)
    modes = tuple(m.strip().lower() for m in env.get("BOT_FEED_ANNOUNCE", "").split(",") if m.strip()) or ("off",)
    bad = [m for m in modes if m not in ("off", "preview", "auto")]
    if bad:
        raise ConfigError(f"BOT_FEED_ANNOUNCE must be off, preview or auto (one for all sources, or one per "
                          f"source of BOT_FEED_URLS), got {bad[0]!r}")
    if len(modes) > 1 and len(modes) != len(urls):
        raise ConfigError(f"BOT_FEED_ANNOUNCE lists {len(modes)} modes for {len(urls)} source(s) of BOT_FEED_URLS: "
                          "give one mode for all or one per source")
    return tuple(urls), modes


def load_settings(env: Mapping[str, str] | None = None, env_file: Path | None = None) -> Settings:
    """Read settings; the process environment wins over .env. Raises ConfigError."""
    if env is None:
        merged = _read_env_file(env_file or Path.cwd() / ".env")
        merged.update(os.environ)
        env = merged

    token = env.get("TELEGRAM_BOT_TOKEN", "").strip()
    if token and not _TOKEN_RE.match(token):
        raise ConfigError("TELEGRAM_BOT_TOKEN does not look like a bot token (digits, a colon, then letters): check it")

    base = env.get("TELEGRAM_API_BASE_URL", "").strip() or DEFAULT_API_BASE
    if not re.match(r"^https?://[^\s/]+(/\S*)?$", base):
        raise ConfigError(f"TELEGRAM_API_BASE_URL must be an http(s) URL ending in /bot, got {base!r}")

    db_raw = env.get("BOT_DB_PATH", "").strip()
    db_path = Path(db_raw).expanduser() if db_raw else BUNDLED_STORE
    state_raw = env.get("BOT_STATE_PATH", "").strip()

    staff: set[int] = set()
    for part in env.get("BOT_STAFF_IDS", "").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if not re.fullmatch(r"-?\d{1,20}", part):
            raise ConfigError(f"BOT_STAFF_IDS must be comma-separated Telegram user ids, got {part!r}")
        staff.add(int(part))

    level = env.get("BOT_LOG_LEVEL", "").strip().upper() or "INFO"
    if level not in logging.getLevelNamesMapping():
        raise ConfigError(f"BOT_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {level!r}")

    webhook_url = env.get("BOT_WEBHOOK_URL", "").strip()
    if webhook_url and not webhook_url.startswith("https://"):
        raise ConfigError("BOT_WEBHOOK_URL must start with https:// (Telegram only calls HTTPS webhooks)")
    secret = env.get("BOT_WEBHOOK_SECRET", "").strip()
    if secret and not re.fullmatch(r"[A-Za-z0-9_-]{16,256}", secret):
        raise ConfigError("BOT_WEBHOOK_SECRET must be 16-256 characters of A-Z, a-z, 0-9, _ or -")

    personal = env.get("BOT_LOG_PERSONAL", "").strip().lower()
    if personal not in ("", "0", "1", "true", "false", "yes", "no"):
        raise ConfigError(f"BOT_LOG_PERSONAL must be 1 or 0, got {personal!r}")

    feed_urls, feed_announce = _feeds(env)
    digest_time = env.get("BOT_DIGEST_TIME", "").strip().lower() or "09:00"
    if digest_time != "off" and not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", digest_time):
        raise ConfigError(f"BOT_DIGEST_TIME must be a time of day like 09:00 (Asia/Taipei) or off, got {digest_time!r}")

    rate = _rate(env, "BOT_BROADCAST_RATE", 25.0, 0.1)
    reply_rate = _rate(env, "BOT_REPLY_MAX_RATE", 0.0, 0.0)  # 0: no overall cap on replies

    return Settings(
        token=token,
        api_base_url=base,
        db_path=db_path,
        state_path=Path(state_raw).expanduser() if state_raw else None,
        staff_ids=frozenset(staff),
        log_level=level,
        webhook_url=webhook_url,
        webhook_secret=secret,
        webhook_listen=env.get("BOT_WEBHOOK_LISTEN", "").strip() or "127.0.0.1",
        webhook_port=_int(env, "BOT_WEBHOOK_PORT", 8443, 1, 65535),
        question_log_days=_int(env, "BOT_QUESTION_LOG_DAYS", 30, 0, 3650),
        broadcast_rate=rate,
        reply_max_rate=reply_rate,
        rate_limit_per_minute=_int(env, "BOT_USER_MESSAGES_PER_MINUTE", 20, 1, 10_000),
        burst_window_s=_rate(env, "BOT_BURST_WINDOW_S", 1.5, 0.0, 10.0, unit="seconds"),
        log_personal=personal in ("1", "true", "yes"),
        feed_urls=feed_urls,
        feed_interval_s=_duration(env, "BOT_FEED_INTERVAL", 3600.0, 1.0, 7 * 86400.0),
        feed_announce=feed_announce,
        feed_timeout_s=_duration(env, "BOT_FEED_TIMEOUT", 20.0, 0.1, 300.0),
        digest_time=digest_time,
    )
