"""Staff services for posts and announcements, with no Telegram import.

The /post and /announce conversations (handlers/staff.py) and `python -m bot announce` call
these: validating what staff type, reading a schedule time in Asia/Taipei, building the
announcement exactly as recipients will see it, creating the broadcast in the operational store,
and the texts staff read (progress, delivery report, /broadcasts, /stats).

Every text that comes from staff or a post goes through html.escape (or bot/render, which does).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bot.i18n import catalogue, t, tmap
from bot.models import CATEGORIES, Post, RecordError, post_from_record
from bot.opstore import TAIPEI, TOPICS, BroadcastInfo, OperationalStore, normalise_topic
from bot.render import Button, Reply, fit, post_reply
from bot.staff import draft_post
from bot.store import PostStore
from bot.text import has_han

if TYPE_CHECKING:  # only for type hints: the services container is passed in, never built here
    from bot.broadcast import ProgressInfo
    from bot.services import Services

ALL = "all"  # every active subscriber, whatever topics they chose
TOPIC_CHOICES: tuple[str, ...] = (*TOPICS, ALL)
# Post categories (bot/models.CATEGORIES) to the subscription topic suggested when announcing a
# post. Cooperation agreements are the ministry's anti-trafficking MOUs, so they go to that topic.
CATEGORY_TOPIC: dict[str, str] = {
    "news": "news",
    "workshop": "workshops",
    "anti-trafficking": "anti-trafficking",
    "cooperation": "anti-trafficking",
    "announcement": "announcements",
}
# One text goes to every recipient; the ministry's posts are in English, so the buttons and the
# footer under an announcement are too.
RECIPIENT_LANG = "en"
MAX_TITLE = 300  # bot/models.post_from_record's limit for 'title'
MAX_BODY = 20_000  # bot/models.post_from_record's limit for 'body'
MAX_LINK = 2000
# An announcement must fit one Telegram message (4,096 characters) with its heading and footer.
MAX_SHORT_TEXT = 3500
MAX_AHEAD = timedelta(days=366)  # a schedule further ahead than a year is a typo
LATEST = 5

assert set(CATEGORY_TOPIC) == set(CATEGORIES), "every post category needs a topic"


class StaffInputError(ValueError):
    """Something staff typed that cannot be used; message(lang) says why and what to type."""

    def __init__(self, key: str, **values: str) -> None:
        self.key = key
        self.values = {k: escape(str(v)) for k, v in values.items()}
        super().__init__(t("en", key, **self.values))

    def message(self, lang: str, *, cli: bool = False) -> str:
        """The message in `lang`; cli=True for the terminal, where a message that names a Telegram
        button has its own wording (key + "_cli")."""
        key = f"{self.key}_cli" if cli and f"{self.key}_cli" in catalogue("en") else self.key
        return t(lang, key, **self.values)


class ScheduleError(StaffInputError):
    """A schedule time that cannot be read, or is in the past."""


# -- posts ------------------------------------------------------------------------------------


def clean_titles(text: str | None) -> tuple[str, str]:
    """(title, Traditional Chinese title): staff may send the Chinese title on a second line."""
    lines = [line for line in (text or "").splitlines() if line.strip()]
    if len(lines) >= 2 and has_han(lines[-1]) and not has_han(lines[0]):
        return clean_title("\n".join(lines[:-1])), clean_title(lines[-1])
    return clean_title(text), ""


def clean_title(text: str | None) -> str:
    title = " ".join((text or "").split())
    if not title:
        raise StaffInputError("staff_post_title_empty")
    if len(title) > MAX_TITLE:
        raise StaffInputError("staff_post_title_long", max=str(MAX_TITLE), n=str(len(title)))
    return title


def clean_body(text: str | None) -> str:
    body = (text or "").strip()
    if not body:
        raise StaffInputError("staff_post_body_empty")
    if len(body) > MAX_BODY:
        raise StaffInputError("staff_post_body_long", max=str(MAX_BODY), n=str(len(body)))
    return body


def clean_category(text: str | None) -> str:
    category = (text or "").strip().lower()
    if category not in CATEGORIES:
        raise StaffInputError("staff_post_category_bad", categories=", ".join(CATEGORIES))
    return category


def clean_link(text: str | None) -> str:
    """An http(s) link with a host and no spaces, or StaffInputError."""
    link = (text or "").strip()
    parts = urlsplit(link) if link and len(link) <= MAX_LINK else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or re.search(r"\s", link):
        raise StaffInputError("staff_post_link_bad")
    return link


def preview_post(store: PostStore, fields: dict, lang: str, *, bot_username: str = "") -> Reply:
    """The post exactly as citizens will see it (bot/render.post_reply), validated like the store will."""
    record = draft_post(store, title=fields["title"], body=fields["body"], category=fields["category"],
                        url=fields.get("url", ""), zh_title=fields.get("zh_title", ""))
    try:
        post = post_from_record(record)
    except RecordError as exc:
        raise StaffInputError("staff_post_invalid", reason=str(exc)) from None
    return post_reply(post, lang, bot_username=bot_username)


# -- announcements ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Announcement:
    """What every recipient gets: Telegram HTML and buttons as stored with the broadcast."""

    text_html: str
    buttons_json: str = ""
    post_id: str | None = None

    def reply(self) -> Reply:
        """The same message as a Reply (previews, the terminal)."""
        rows = json.loads(self.buttons_json) if self.buttons_json else []
        return Reply(self.text_html, tuple(
            tuple(Button(b["text"], data=b.get("callback_data", ""), url=b.get("url", ""),
                         inline_query=b.get("switch_inline_query")) for b in row)
            for row in rows))

    def to_dict(self) -> dict:
        return {"text_html": self.text_html, "buttons_json": self.buttons_json, "post_id": self.post_id}

    @classmethod
    def from_dict(cls, data: dict) -> Announcement:
        return cls(data["text_html"], data.get("buttons_json", ""), data.get("post_id"))


def _button_json(b: Button) -> dict:
    if b.url:
        return {"text": b.label, "url": b.url}
    if b.inline_query is not None:
        return {"text": b.label, "switch_inline_query": b.inline_query}
    return {"text": b.label, "callback_data": b.data}


def _buttons_json(buttons: tuple[tuple[Button, ...], ...]) -> str:
    rows = [[_button_json(b) for b in row] for row in buttons if row]
    return json.dumps(rows, ensure_ascii=False) if rows else ""


def _with_footer(body_html: str, lang: str) -> str:
    footer = t(lang, "staff_broadcast_footer")
    return fit(f"{body_html}\n\n<i>{footer}</i>")


def from_post(post: Post, *, bot_username: str = "", lang: str = RECIPIENT_LANG) -> Announcement:
    """A post as an announcement: the text and buttons citizens get for it (bot/render.post_reply)."""
    reply = post_reply(post, lang, bot_username=bot_username)
    return Announcement(_with_footer(reply.text, lang), _buttons_json(reply.buttons), post.id)


def from_text(text: str | None, *, lang: str = RECIPIENT_LANG) -> Announcement:
    """A short announcement staff wrote, escaped, under the ministry's heading."""
    body = (text or "").strip()
    if not body:
        raise StaffInputError("staff_ann_empty")
    if len(body) > MAX_SHORT_TEXT:
        raise StaffInputError("staff_ann_too_long", max=str(MAX_SHORT_TEXT), n=str(len(body)))
    heading = t(lang, "staff_announcement_heading")
    return Announcement(_with_footer(f"<b>{heading}</b>\n\n{escape(body)}", lang))


_POST_ID_LIKE = re.compile(r"^[A-Za-z]{0,3}\d{1,6}$")


def pick(store: PostStore, text: str | None, *, bot_username: str = "") -> Announcement:
    """What staff typed at the first /announce step: a post id, or a short announcement text."""
    typed = (text or "").strip()
    post = store.post(typed) if typed else None
    if post is not None:
        return from_post(post, bot_username=bot_username)
    if _POST_ID_LIKE.match(typed):
        raise StaffInputError("staff_ann_no_post", id=typed)
    return from_text(typed)


def latest_posts(store: PostStore, n: int = LATEST) -> list[Post]:
    """The n newest posts (by date, then by when they entered the store)."""
    return sorted(store.posts(), key=lambda p: (p.date, p.imported_at, p.id), reverse=True)[:n]


def suggested_topic(post: Post | None) -> str | None:
    return CATEGORY_TOPIC.get(post.category) if post is not None else None


def clean_topic(topic: str | None) -> str:
    """One of TOPIC_CHOICES (post categories are accepted too), or StaffInputError."""
    key = (topic or "").strip().lower()
    if key == ALL:
        return ALL
    try:
        return normalise_topic(CATEGORY_TOPIC.get(key, key))
    except ValueError:
        raise StaffInputError("staff_topic_bad", topics=", ".join(TOPIC_CHOICES)) from None


def topic_label(topic: str, lang: str) -> str:
    if topic == ALL:
        return t(lang, "staff_topic_all")
    return tmap(lang, "topics").get(topic, topic)


def prepare(ops: OperationalStore, broadcast_id: int) -> None:
    """Call before Broadcaster.run: the store snapshots the recipients (idempotent)."""
    info = ops.broadcast(broadcast_id)
    if not info.finished and not info.materialised:
        ops.materialise_recipients(broadcast_id)


def recipients(ops: OperationalStore, topic: str) -> int:
    """How many people a broadcast to `topic` would reach now."""
    if topic == ALL:
        return ops.count_everyone()
    return ops.count_by_topic().get(topic, 0)


def topic_counts(ops: OperationalStore) -> dict[str, int]:
    """Recipients per topic choice (the four topics and "all"), for the topic buttons."""
    counts = ops.count_by_topic()
    return {**{topic: counts.get(topic, 0) for topic in TOPICS}, ALL: recipients(ops, ALL)}


def create(ops: OperationalStore, staff_id: int, topic: str, announcement: Announcement,
           when: datetime | None = None) -> int:
    """Store the broadcast: 'running' at once (the caller starts it), or 'scheduled' for `when`."""
    topic = clean_topic(topic)
    args = dict(buttons_json=announcement.buttons_json, scheduled_for=when, post_id=announcement.post_id)
    return ops.create_broadcast(staff_id, topic, announcement.text_html, **args)


# -- schedule times ---------------------------------------------------------------------------

_NOW_WORDS = {"now", "send now", "immediately", "立即", "現在", "现在", "馬上", "马上"}
_DAY_WORDS = {"today": 0, "tonight": 0, "今天": 0, "今晚": 0, "tomorrow": 1, "明天": 1, "後天": 2, "后天": 2,
              "yesterday": -1, "昨天": -1, "前天": -2}  # days in the past are read, then refused as past
_UNITS = {"m": 1, "min": 1, "mins": 1, "minute": 1, "minutes": 1, "分": 1, "分鐘": 1, "分钟": 1,
          "h": 60, "hr": 60, "hrs": 60, "hour": 60, "hours": 60, "小時": 60, "小时": 60,
          "d": 1440, "day": 1440, "days": 1440, "天": 1440}
_RELATIVE = re.compile(r"^(?:in\s*)?(\d{1,4})\s*([a-z]+|分鐘|分钟|分|小時|小时|天)\s*(later|後|后|ago|前)?$")
_DAY_TIME = re.compile(
    r"^(today|tonight|tomorrow|yesterday|今天|今晚|明天|後天|后天|昨天|前天)?\s*(?:at\s*)?(\d{1,2})(?:\s*[:：.]\s*(\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?$")
_DATE_TIME = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:\s*(?:t|\s)\s*(?:at\s*)?(\d{1,2})[:：](\d{2}))?$")


def format_when(dt: datetime) -> str:
    """A time as staff read it: 2026-12-01 09:00 (Asia/Taipei)."""
    return dt.astimezone(TAIPEI).strftime("%Y-%m-%d %H:%M") + " (Asia/Taipei)"


def parse_when(text: str | None, now: datetime) -> datetime | None:
    """Read a send time in Asia/Taipei: None for "now"; an aware datetime; or ScheduleError.

    Accepts "tomorrow 09:00", "today 18:00", "18:00", "9pm", "2026-12-01 14:30",
    "2026/12/01 14:30", "in 2 hours", "in 30 minutes", "in 1 day", and 今天 / 明天 / 後天 18:00.
    A time that has passed ("yesterday 09:00", "2 hours ago", 昨天 18:00) or is more than a year ahead
    is refused with a message saying so.
    """
    s = " ".join((text or "").strip().lower().split())
    if not s or s in _NOW_WORDS:
        return None
    local_now = now.astimezone(TAIPEI)
    if s in _DAY_WORDS:
        if _DAY_WORDS[s] < 0:  # "yesterday": past, whatever the hour
            day = local_now.date() + timedelta(days=_DAY_WORDS[s])
            raise ScheduleError("staff_when_past", when=day.isoformat(), now=format_when(local_now))
        raise ScheduleError("staff_when_need_time", example=f"{s} 09:00")
    relative = _RELATIVE.match(s)
    if relative and relative.group(2) in _UNITS:
        sign = -1 if relative.group(3) in ("ago", "前") else 1  # "2 hours ago": read, then refused as past
        when = local_now + sign * timedelta(minutes=int(relative.group(1)) * _UNITS[relative.group(2)])
    elif m := _DAY_TIME.match(s):
        day_word, hour, minute, ampm = m.groups()
        if minute is None and ampm is None and day_word is None:
            raise ScheduleError("staff_when_unknown")  # a bare number is too ambiguous to send on
        when = _at(local_now.date() + timedelta(days=_DAY_WORDS.get(day_word or "", 0)),
                   int(hour), int(minute or 0), ampm)
    elif m := _DATE_TIME.match(s):
        year, month, day, hour, minute = m.groups()
        if hour is None:
            raise ScheduleError("staff_when_need_time", example=f"{year}-{int(month):02d}-{int(day):02d} 09:00")
        try:
            day_date = datetime(int(year), int(month), int(day)).date()
        except ValueError:
            raise ScheduleError("staff_when_invalid") from None
        when = _at(day_date, int(hour), int(minute), None)
    else:
        raise ScheduleError("staff_when_unknown")
    when = when.replace(second=0, microsecond=0)
    if when <= local_now:
        raise ScheduleError("staff_when_past", when=format_when(when), now=format_when(local_now))
    if when - local_now > MAX_AHEAD:
        raise ScheduleError("staff_when_far", when=format_when(when))
    return when


def _at(day, hour: int, minute: int, ampm: str | None) -> datetime:
    if ampm:
        if not 1 <= hour <= 12:
            raise ScheduleError("staff_when_invalid")
        hour = hour % 12 + (12 if ampm.startswith("p") else 0)
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise ScheduleError("staff_when_invalid")
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TAIPEI)


def scheduled_time(info: BroadcastInfo) -> datetime | None:
    """When a scheduled broadcast is due, as an aware datetime (stored in UTC)."""
    return datetime.fromisoformat(info.scheduled_for) if info.scheduled_for else None


# -- what staff read --------------------------------------------------------------------------


def earlier_broadcasts(ops: OperationalStore, post_id: str | None) -> list[BroadcastInfo]:
    """Broadcasts of the same post already sent, running or scheduled: announcing it again needs a second
    confirmation (subscribers would get it twice)."""
    return ops.broadcasts_of_post(post_id) if post_id else []


def again_text(earlier: list[BroadcastInfo], post_id: str, lang: str) -> str:
    """The warning: when and to whom the post was announced before, and what was delivered."""
    lines = []
    for info in earlier[:5]:
        when = scheduled_time(info) if info.state == "scheduled" else datetime.fromisoformat(info.started_at or info.created_at)
        lines.append(t(lang, "staff_ann_again_line", bid=str(info.id), topic=escape(topic_label(info.topic, lang)),
                       when=format_when(when), sent=str(info.sent), state=t(lang, f"staff_state_name_{info.state}")))
    return t(lang, "staff_ann_again", id=escape(post_id), lines="\n".join(lines))


def confirm_text(topic: str, count: int, when: datetime | None, lang: str) -> str:
    """The question under a preview: to whom, how many, when."""
    when_text = t(lang, "staff_when_now") if when is None else t(lang, "staff_when_at", when=format_when(when))
    return t(lang, "staff_ann_confirm", topic=escape(topic_label(topic, lang)), n=str(count), when=when_text)


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def progress_text(progress: ProgressInfo, topic: str, lang: str) -> str:
    """The one progress message staff see while a broadcast runs ("sent 120 / 1000")."""
    label = escape(topic_label(topic, lang))
    done = progress.sent + progress.failed
    lines = [t(lang, "staff_progress", id=str(progress.broadcast_id), topic=label, done=str(done),
               total=str(progress.total), sent=str(progress.sent), failed=str(progress.failed))]
    if not progress.final and progress.rate_per_s > 0 and progress.eta_s is not None:
        lines.append(t(lang, "staff_progress_rate", rate=f"{progress.rate_per_s:.1f}",
                       eta=_duration(progress.eta_s)))
    if progress.note:
        lines.append(t(lang, "staff_progress_note", note=escape(progress.note)))
    if progress.final:
        state = progress.state if progress.state in ("done", "cancelled") else "paused"
        lines.append(t(lang, f"staff_state_{state}"))
    return "\n".join(lines)


def report_text(ops: OperationalStore, broadcast_id: int, lang: str, *, elapsed_s: float | None = None,
                stopped_reason: str = "") -> str:
    """The delivery report at the end: delivered, blocked, chat not found / deactivated, other errors."""
    info = ops.broadcast(broadcast_id)
    counts = ops.delivery_report(broadcast_id)
    head = {"done": "staff_report_done", "cancelled": "staff_report_cancelled"}.get(info.state, "staff_report_paused")
    lines = [t(lang, head, id=str(info.id), topic=escape(topic_label(info.topic, lang)))]
    for key in ("delivered", "blocked", "not_found_or_deactivated", "other_errors"):
        lines.append(t(lang, f"staff_report_{key}", n=str(counts.get(key, 0))))
    for key in ("skipped", "pending"):
        if counts.get(key):
            lines.append(t(lang, f"staff_report_{key}", n=str(counts[key])))
    lines.append(t(lang, "staff_report_total", n=str(counts.get("total", 0))))
    if elapsed_s is not None:
        lines.append(t(lang, "staff_report_took", took=_duration(elapsed_s)))
    if info.state == "running" and (stopped_reason or info.note):
        lines.append(t(lang, "staff_progress_note", note=escape(info.note or stopped_reason)))
    return "\n".join(lines)


def broadcast_line(info: BroadcastInfo, lang: str) -> str:
    label = escape(topic_label(info.topic, lang))
    state = t(lang, f"staff_state_name_{info.state}")
    line = f"#{info.id} · {label} · {state}"
    if info.state == "scheduled":
        when = scheduled_time(info)
        return line + (f" · {format_when(when)}" if when else "")
    line += f" · {info.sent} / {info.total}" if info.materialised else ""
    if info.failed:
        line += " · " + t(lang, "staff_list_failed", n=str(info.failed))
    if info.state == "running" and info.note:
        line += f" · {escape(info.note)}"
    return line


def list_broadcasts(ops: OperationalStore, lang: str = "en", *, limit: int = 10) -> str:
    """Running and scheduled broadcasts first, then the most recent ones."""
    active = [*ops.unfinished_broadcasts(), *ops.scheduled_broadcasts()]
    seen = {b.id for b in active}
    recent = [b for b in ops.recent_broadcasts(limit) if b.id not in seen]
    if not active and not recent:
        return t(lang, "staff_list_empty")
    lines = [t(lang, "staff_list_heading")]
    lines += [broadcast_line(b, lang) for b in active]
    if recent:
        lines += ["", t(lang, "staff_list_recent")]
        lines += [broadcast_line(b, lang) for b in recent]
    lines += ["", t(lang, "staff_list_hint")]
    return fit("\n".join(lines))


def stats(services: Services, lang: str = "en", period: timedelta | None = None) -> str:
    """Subscribers by topic, questions answered and declined today (Asia/Taipei), and over today or the
    period given: the answer rate, the 👍 rate and the most frequent unanswered questions."""
    # Here, not at the top: bot.digest reaches the matcher and the lexicon, which only this part needs.
    from bot.digest import period_label, stats_lines

    ops = services.ops
    services.flush_questions()  # the question log is written in batches
    by_topic = ops.count_by_topic()
    status = ops.count_subscribers()
    questions = ops.questions_today(services.now())
    lines = [t(lang, "staff_stats_subscribers", active=str(status.get("active", "?")),
               blocked=str(status.get("blocked", "?")))]
    lines += [f"• {escape(topic_label(topic, lang))}: {by_topic.get(topic, 0)}" for topic in TOPICS]
    lines += ["", t(lang, "staff_stats_questions", answered=str(questions.get("answered", 0)),
                    declined=str(questions.get("declined", 0)), total=str(questions.get("total", 0)))]
    now = services.now()
    if period is None:
        since = now.astimezone(TAIPEI).replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        since = now - period
        lines += ["", t(lang, "staff_stats_period", period=period_label(period), until=format_when(now))]
    lines += stats_lines(services, since, lang)
    running = len(ops.unfinished_broadcasts())
    scheduled = len(ops.scheduled_broadcasts())
    if running or scheduled:
        lines += ["", t(lang, "staff_stats_broadcasts", running=str(running), scheduled=str(scheduled))]
    skipped = ops.count_skipped(services.now() - timedelta(days=7))
    if skipped:
        lines += ["", t(lang, "staff_stats_skipped", n=str(skipped))]
    for condition in services.health.conditions():  # disk full, read-only: the bot runs on from memory
        lines += ["", t(lang, "staff_stats_storage", what=escape(condition.label),
                        since=format_when(datetime.fromtimestamp(condition.since, TAIPEI)),
                        reason=escape(condition.reason))]
    from bot.feeds import (
        stats_lines,  # here: bot.feeds reaches the importers, which /stats alone does not need
    )

    lines += stats_lines(ops, services.settings, lang)  # each news source's last success and error
    return "\n".join(lines)


def parse_broadcast_id(text: str | None) -> int | None:
    s = (text or "").strip().lstrip("#")
    return int(s) if s.isdigit() and len(s) <= 12 else None


__all__ = [
    "ALL",
    "CATEGORY_TOPIC",
    "TOPIC_CHOICES",
    "Announcement",
    "ScheduleError",
    "StaffInputError",
    "clean_body",
    "clean_category",
    "clean_link",
    "clean_title",
    "clean_topic",
    "create",
    "from_post",
    "from_text",
    "latest_posts",
    "list_broadcasts",
    "parse_when",
    "pick",
    "prepare",
    "preview_post",
    "progress_text",
    "recipients",
    "report_text",
    "stats",
    "topic_counts",
]
