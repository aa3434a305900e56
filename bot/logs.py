"""Logging set-up that keeps secrets and people out of the log.

- The bot token is redacted from every record: httpx logs request URLs, and Telegram URLs carry
  the token (/bot<TOKEN>/sendMessage); PTB errors may quote them too. The filter rewrites message,
  arguments and tracebacks.
- The libraries' loggers (telegram, httpx, httpcore, apscheduler) log whole updates and API calls
  at DEBUG: every user's id, first name, username and text. Their records keep their message but
  lose their arguments (shown as <…>) at every level, unless BOT_LOG_PERSONAL=1 is set to debug.
  The bot's own loggers never log a person's name or text in the first place.
"""

from __future__ import annotations

import logging
import re

_TOKEN_RE = re.compile(r"\d{3,20}:[A-Za-z0-9_-]{20,100}")
REDACTED = "<redacted-token>"


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return _TOKEN_RE.sub(REDACTED, text)


LIBRARY_LOGGERS = ("telegram", "httpx", "httpcore", "apscheduler", "hpack", "aiohttp")
HIDDEN = "<…>"
_FORMAT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[diouxXeEfFgGcrsa%]")


def _from_library(name: str) -> bool:
    return any(name == lib or name.startswith(lib + ".") for lib in LIBRARY_LOGGERS)


class PersonalDataFilter(logging.Filter):
    """Drops the arguments of the libraries' log records: they carry updates, users and texts."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and _from_library(record.name):
            record.msg = _FORMAT_SPEC.sub(lambda m: "%" if m.group() == "%%" else HIDDEN, str(record.msg))
            record.args = ()
        return True


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            formatter = logging.Formatter()
            message += "\n" + formatter.formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        record.msg = redact(message, self.secrets)
        record.args = ()
        return True


def setup_logging(level: str = "INFO", secrets: tuple[str, ...] = (), *, personal: bool = False) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if not personal:  # BOT_LOG_PERSONAL=1 lets the libraries print whole updates (debugging only)
        handler.addFilter(PersonalDataFilter())
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Request lines carry the token in their URL and add nothing an operator needs.
    for noisy in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
