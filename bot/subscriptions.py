"""Citizen subscriptions: topic choice with toggle buttons, over the operational store."""

from __future__ import annotations

from bot import callbacks
from bot.i18n import t, tmap
from bot.opstore import TOPICS, OperationalStore
from bot.render import Button, Reply


def topic_buttons(selected: tuple[str, ...], lang: str) -> tuple[tuple[Button, ...], ...]:
    names = tmap(lang, "topics")
    rows = [(Button(("✅ " if topic in selected else "▫️ ") + names.get(topic, topic),
                    data=callbacks.encode("sub", topic)),) for topic in TOPICS]
    rows.append((Button(t(lang, "sub_done"), data=callbacks.encode("sub", "done")),))
    return tuple(rows)


def subscribe(ops: OperationalStore, chat_id: int, lang: str) -> Reply:
    """Subscribe (all topics for a newcomer; an existing choice is kept) and show the topic buttons."""
    sub = ops.subscribe(chat_id, None, lang)
    return Reply(t(lang, "sub_done_text") + "\n" + t(lang, "sub_choose"), topic_buttons(sub.topics, lang))


def toggle(ops: OperationalStore, chat_id: int, topic: str, lang: str) -> Reply:
    sub = ops.subscriber(chat_id) or ops.subscribe(chat_id, None, lang)
    if topic == "done":
        return status(ops, chat_id, lang)
    chosen = set(sub.topics) ^ {topic}
    if not chosen:  # no topic left means no subscription: say so instead of a silent zero
        ops.unsubscribe(chat_id)
        return Reply(t(lang, "unsub_done"))
    sub = ops.set_topics(chat_id, [x for x in TOPICS if x in chosen]) or sub
    return Reply(t(lang, "sub_choose"), topic_buttons(sub.topics, lang))


def unsubscribe(ops: OperationalStore, chat_id: int, lang: str) -> Reply:
    return Reply(t(lang, "unsub_done") if ops.unsubscribe(chat_id) else t(lang, "unsub_not"))


def status(ops: OperationalStore, chat_id: int, lang: str) -> Reply:
    sub = ops.subscriber(chat_id)
    if sub is None or not sub.active or not sub.topics:
        return Reply(t(lang, "sub_none"))
    names = tmap(lang, "topics")
    return Reply(t(lang, "sub_status", topics=", ".join(names.get(x, x) for x in sub.topics)))
