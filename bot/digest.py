"""The unanswered-questions digest: what the bot declined or got a 👎 for, grouped, for staff to act on.

- Questions of a period that staff have not reviewed yet, from the question log (masked, never who
  asked): declined ones (not greetings or thanks) and answers that got a 👎.
- Grouped by similarity with rapidfuzz: content words (stopwords and masked digits out; Han pairs and
  Thai triples for those scripts), each question joins the group whose most frequent phrasing it is
  closest to when token_sort_ratio reaches `cluster_threshold` and the two share a word that is not
  common among the posts, else starts a group. The most frequent groups first.
- Each group offers the posts the matcher found closest over its phrasings: "Add as alternate question
  of post …" (bot/alternates.py, re-indexed at once), a search for another post, "Mark out of scope",
  "Ignore". Whatever staff choose is recorded on the group's questions, so a digest never shows them again.

Telegram (/digest, the daily job, the buttons: handlers/digest.py) and `python -m bot digest` call
these. Nothing here imports Telegram.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from html import escape
from typing import TYPE_CHECKING

from rapidfuzz import fuzz, process

from bot import callbacks
from bot.alternates import QuestionError, add_question, clean_question, remove_question, tunables
from bot.i18n import t
from bot.lexicon import default_lexicon
from bot.lint import check_question
from bot.opstore import TAIPEI, DigestGroup, LoggedQuestion
from bot.render import Button, Reply, fit, post_title
from bot.text import fold_latin, normalise, truncate_words, words

if TYPE_CHECKING:  # the services container is passed in, never built here
    from bot.services import Services

# Engine reasons of a decline that need no post: small talk and empty messages (bot/answer.py).
SMALL_TALK = ("greeting", "thanks", "chitchat", "compose", "no-text", "too-short")
OUT_OF_SCOPE, IGNORED = "out-of-scope", "ignored"
DEFAULT_PERIOD = timedelta(days=1)
MAX_PERIOD = timedelta(days=366)
MAX_QUESTIONS = 5000  # questions grouped per digest (the newest): the grouping is quadratic at worst
IMPACT_SHOWN = 5  # questions quoted when an alternate question changes the answer to others
_SCRIPT = re.compile(r"[\u0e00-\u0e7f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_PERIOD = re.compile(r"^(\d{1,3})\s*(d|day|days|h|hour|hours|w|week|weeks|天|日|小時|週)$")
_PERIOD_UNITS = {"d": 24, "day": 24, "days": 24, "天": 24, "日": 24, "h": 1, "hour": 1, "hours": 1, "小時": 1,
                 "w": 168, "week": 168, "weeks": 168, "週": 168}


# -- periods and times ------------------------------------------------------------------------


class PeriodError(ValueError):
    """A period or time of day staff typed that cannot be read."""


def parse_period(text: str | None, default: timedelta = DEFAULT_PERIOD) -> timedelta:
    """"7d", "24h", "2w", "today"… as a length of time (up to a year); the default when nothing is typed."""
    s = " ".join((text or "").strip().lower().split())
    if not s:
        return default
    if s in ("today", "今天"):
        return timedelta(days=1)
    m = _PERIOD.match(s)
    if not m or int(m.group(1)) == 0:
        raise PeriodError(s)
    period = timedelta(hours=int(m.group(1)) * _PERIOD_UNITS[m.group(2)])
    if period > MAX_PERIOD:
        raise PeriodError(s)
    return period


def period_label(period: timedelta) -> str:
    hours = int(period.total_seconds() // 3600)
    return f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"


def parse_time_of_day(text: str | None) -> time | None:
    """"09:00" (Asia/Taipei) as an aware time; None for "off". PeriodError when unreadable."""
    s = (text or "").strip().lower()
    if s in ("off", "none", "no", "0", "關閉"):
        return None
    m = re.match(r"^(\d{1,2})[:：.](\d{2})$", s)
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise PeriodError(s)
    return time(int(m.group(1)), int(m.group(2)), tzinfo=TAIPEI)


DIGEST_TIME = "digest_time"  # the operational store's setting staff choose with /digest_time


def digest_time(services: Services) -> time | None:
    """When the daily digest goes out: what staff chose with /digest_time, else BOT_DIGEST_TIME."""
    chosen = services.ops.setting(DIGEST_TIME)
    return parse_time_of_day(chosen if chosen is not None else services.settings.digest_time)


# -- grouping ---------------------------------------------------------------------------------


def content_key(text: str) -> str:
    """What a question is about, for grouping: its content words (stemmed, synonyms mapped, stopwords
    and masked digits out; Han pairs and Thai triples for those scripts), sorted."""
    lex = default_lexicon()
    terms: list[str] = []
    for word in words(fold_latin(normalise(text))):
        if _SCRIPT.search(word):
            terms.extend(lex.script_terms(word) or [word])
        else:
            terms.extend(lex.word_terms(word))
    return " ".join(sorted(set(terms)))


def cluster(texts: Sequence[str], threshold: float | None = None,
            weight: Callable[[str], float] | None = None) -> list[list[int]]:
    """Groups of similar texts (indexes into `texts`), the largest first, each in the order given.

    Texts with the same content key are one phrasing; phrasings are taken the most frequent first, and each
    joins the group whose first (most frequent) phrasing it is closest to, if token_sort_ratio reaches the
    threshold and, given `weight` (how informative a term is in the store), the two share a term of at
    least `cluster_min_weight`: in a ministry's questions "human trafficking" is everywhere and makes no
    two questions the same. A group is built around its leader, so it does not drift by chaining."""
    threshold = float(tunables()["cluster_threshold"]) if threshold is None else threshold
    floor = float(tunables()["cluster_min_weight"])
    by_key: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        by_key.setdefault(content_key(text) or normalise(text), []).append(i)
    leaders: list[str] = []
    groups: list[list[int]] = []
    for key, members in sorted(by_key.items(), key=lambda kv: (-len(kv[1]), kv[1][0])):
        terms = set(key.split())
        close = process.extract(key, leaders, scorer=fuzz.token_sort_ratio, score_cutoff=threshold,
                                limit=None) if leaders and key else []
        best = next((j for _, _, j in close  # the closest first
                     if weight is None or any(weight(t) >= floor for t in terms & set(leaders[j].split()))), None)
        if best is None:
            leaders.append(key)
            groups.append(list(members))
        else:
            groups[best].extend(members)
    for g in groups:
        g.sort()
    return sorted(groups, key=lambda g: (-len(g), g[0]))


# -- the digest -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Group:
    text: str  # the phrasing asked most often (masked as in the log)
    questions: tuple[LoggedQuestion, ...]
    candidates: tuple[str, ...]  # post ids to offer, best first
    id: int | None = None  # once saved: what its buttons carry

    @property
    def count(self) -> int:
        return len(self.questions)

    @property
    def downvoted(self) -> int:
        return sum(1 for q in self.questions if q.vote == -1)

    @property
    def tentative(self) -> int:
        """How many were answered with "I think this is it": the engine was unsure; an alternate question
        on the right post makes the next answer confident."""
        return sum(1 for q in self.questions if q.reason == "tentative" and q.vote != -1)

    def phrasings(self, n: int = 3) -> list[str]:
        """The other ways it was asked, most frequent first."""
        counts = Counter(q.text for q in self.questions)
        return [text for text, _ in counts.most_common() if text != self.text][:n]


@dataclass(frozen=True, slots=True)
class Digest:
    since: datetime
    until: datetime
    groups: tuple[Group, ...]  # the ones shown
    total_groups: int
    total_questions: int


def build(services: Services, since: datetime, until: datetime | None = None, *, groups: int | None = None,
          save: bool = True) -> Digest:
    """Group the period's unreviewed declined and 👎 questions; with save, the groups shown get the posts to
    offer and an id their buttons carry (the questions they act on are fixed then, whatever is asked after)."""
    services.flush_questions()  # the question log is written in batches
    until = until or services.now()
    rows = services.ops.questions_to_review(since, until, skip_reasons=SMALL_TALK, limit=MAX_QUESTIONS)
    shown = int(tunables()["digest_groups"]) if groups is None else groups
    found = []
    # How informative a word is among the posts: the index's idf (a word no post holds: the most).
    for members in cluster([q.text for q in rows], weight=services.engine.post_index.idf):
        questions = tuple(rows[i] for i in members)
        text = Counter(q.text for q in questions).most_common(1)[0][0]
        found.append(Group(text, questions, ()))
    chosen = found[:shown]
    if save:
        chosen = [_with_candidates(services, g) for g in chosen]
        chosen = [Group(g.text, g.questions, g.candidates,
                        services.ops.save_digest_group(g.text, [q.id for q in g.questions], g.candidates))
                  for g in chosen]
    return Digest(since, until, tuple(chosen), len(found), len(rows))


def _with_candidates(services: Services, group: Group) -> Group:
    """The posts to offer: first those the engine offered as "Did you mean…" when the questions were asked
    (kept with the log), then those the matcher finds closest over the group's phrasings (scores summed);
    a post whose answer got the 👎 comes last."""
    engine = services.engine
    scores: Counter[str] = Counter()
    for text in [group.text, *group.phrasings(2)]:
        lang = next((q.lang for q in group.questions if q.text == text and q.lang), "en")
        _plan, hits, _values = engine.post_candidates(text, lang, today=services.now().date())
        for h in hits[:5]:
            scores[h.id] += h.score
    suggested = Counter(i for q in group.questions if q.kind == "none" or q.reason == "tentative" for i in q.ids)
    rejected = {q.ids[0] for q in group.questions if q.vote == -1 and q.ids}
    ranked = sorted((i for i in {*scores, *suggested} if i in engine.posts),
                    key=lambda i: (i in rejected, -suggested[i], -scores[i]))
    return Group(group.text, group.questions, tuple(ranked[: int(tunables()["digest_candidates"])]), group.id)


# -- what staff see ---------------------------------------------------------------------------


def heading(digest: Digest, lang: str) -> str:
    if not digest.groups:
        return t(lang, "staff_digest_empty", since=_when(digest.since), until=_when(digest.until))
    return t(lang, "staff_digest_heading", since=_when(digest.since), until=_when(digest.until),
             questions=str(digest.total_questions), groups=str(digest.total_groups), shown=str(len(digest.groups)))


def _when(dt: datetime) -> str:
    return dt.astimezone(TAIPEI).strftime("%Y-%m-%d %H:%M")


def group_reply(group: Group, posts: dict, lang: str, n: int = 0) -> Reply:
    """One group: how often, the phrasings, and its buttons."""
    head = t(lang, "staff_digest_group", n=str(n), count=str(group.count), text=escape(group.text))
    lines = [head]
    if group.downvoted:
        lines.append(t(lang, "staff_digest_group_down", n=str(group.downvoted)))
    if group.tentative:
        lines.append(t(lang, "staff_digest_group_tentative", n=str(group.tentative)))
    lines += [f"  · {escape(truncate_words(p, 120))}" for p in group.phrasings()]
    langs = sorted({q.lang for q in group.questions if q.lang})
    if langs:
        lines.append(t(lang, "staff_digest_group_langs", langs=", ".join(langs)))
    rows = []
    if group.id is not None:
        for post_id in group.candidates:
            if post_id in posts:
                label = t(lang, "staff_digest_add", id=post_id, title=truncate_words(post_title(posts[post_id], lang), 40))
                rows.append((Button(label, data=callbacks.encode("digest", "add", str(group.id), post_id)),))
        rows.append((Button(t(lang, "staff_digest_find"), data=callbacks.encode("digest", "find", str(group.id))),))
        rows.append((Button(t(lang, "staff_digest_out"), data=callbacks.encode("digest", "out", str(group.id))),
                     Button(t(lang, "staff_digest_ignore"), data=callbacks.encode("digest", "ign", str(group.id)))))
    return Reply(fit("\n".join(lines)), tuple(rows))


def search_reply(services: Services, group_id: int, query: str, lang: str) -> Reply:
    """Posts for the words staff typed (or the post id), as "add to this post" buttons of the group."""
    engine = services.engine
    typed = query.strip()
    ids = [typed] if typed in engine.posts else []
    if typed:
        _plan, hits, _values = engine.post_candidates(typed, "en", today=services.now().date())
        ids += [h.id for h in hits if h.id not in ids]
    rows = tuple((Button(t(lang, "staff_digest_add", id=i, title=truncate_words(post_title(engine.posts[i], lang), 40)),
                         data=callbacks.encode("digest", "add", str(group_id), i)),) for i in ids[:5])
    return Reply(t(lang, "staff_digest_search_results" if rows else "staff_digest_search_none", query=escape(typed)), rows)


# -- what staff do --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    text: str  # HTML for staff
    buttons: tuple[tuple[Button, ...], ...] = ()  # "Undo" under an alternate question just added


def act(services: Services, group_id: int, verb: str, post_id: str | None, lang: str) -> Outcome:
    """A digest button: "add" (as alternate question of post_id), "out" (out of scope), "ign" (ignore), or
    "undo" (take back the alternate question the group's "add" stored, and show the group again)."""
    ops = services.ops
    group = ops.digest_group(group_id)
    if group is None:
        return Outcome(False, t(lang, "expired"))
    if verb == "undo":
        return _undo(services, group, lang)
    if group.state != "open":
        return Outcome(False, t(lang, "staff_digest_already", state=escape(group.state)))
    if verb in ("out", "ign"):
        state = OUT_OF_SCOPE if verb == "out" else IGNORED
        ops.set_review(group.question_ids, state)
        ops.set_digest_group_state(group_id, state)
        return Outcome(True, t(lang, "staff_digest_marked_out" if verb == "out" else "staff_digest_marked_ignored",
                               text=escape(group.text)))
    if verb != "add" or not post_id:
        return Outcome(False, t(lang, "expired"))
    return add_alternate(services, post_id, group.text, lang, question_ids=group.question_ids, group_id=group_id)


def _undo(services: Services, group: DigestGroup, lang: str) -> Outcome:
    post_id = group.state.removeprefix("alternate:")
    if not group.state.startswith("alternate:"):
        return Outcome(False, t(lang, "expired"))
    try:
        remove_question(services.store, post_id, clean_question(group.text))
    except (KeyError, QuestionError):  # the post is gone, or the text can no longer be read: nothing to undo
        pass
    services.ops.set_review(group.question_ids, None)
    services.ops.set_digest_group_state(group.id, "open")
    return Outcome(True, t(lang, "staff_digest_undone", id=escape(post_id), text=escape(group.text)))


def add_alternate(services: Services, post_id: str, text: str, lang: str, *, question_ids: Sequence[int] = (),
                  group_id: int | None = None) -> Outcome:
    """Store `text` as an alternate question of the post, mark the questions it answers as reviewed, and say
    how the engine answers it now, which other questions asked recently it changes, and any lint warning."""
    try:
        added = add_question(services.store, post_id, text)
    except KeyError:
        return Outcome(False, t(lang, "not_found_post"))
    except QuestionError as exc:
        return Outcome(False, t(lang, "staff_digest_add_failed", reason=escape(str(exc))))
    review = f"alternate:{post_id}"
    if question_ids:
        services.ops.set_review(question_ids, review)
    if group_id is not None:
        services.ops.set_digest_group_state(group_id, review)
    answer = services.engine.answer(added.question)
    lines = [t(lang, "staff_digest_added" if added.new else "staff_digest_added_already", id=escape(post_id),
               text=escape(added.question))]
    if answer.kind == "post" and answer.hits and answer.hits[0].id == post_id:
        lines.append(t(lang, "staff_digest_now_answered", id=escape(post_id)))
    else:
        lines.append(t(lang, "staff_digest_not_answered", kind=escape(answer.kind),
                       id=escape(answer.hits[0].id if answer.hits else "–")))
    changed = impact(services, post_id, added.question, skip=question_ids) if added.new else []
    if changed:
        lines.append(t(lang, "staff_digest_impact", n=str(len(changed)), id=escape(post_id),
                       days=str(services.settings.question_log_days)))
        lines += [f"  · {escape(truncate_words(q.text, 100))}" for q in changed[:IMPACT_SHOWN]]
    lines += [t(lang, "staff_lint_warning", text=escape(f.line())) for f in check_question(services.engine, post_id,
                                                                                     added.question)]
    undo = ((Button(t(lang, "staff_digest_undo"), data=callbacks.encode("digest", "undo", str(group_id))),),) \
        if group_id is not None and added.new else ()
    return Outcome(True, "\n".join(lines), undo)


def impact(services: Services, post_id: str, question: str, *, skip: Sequence[int] = ()) -> list[LoggedQuestion]:
    """Questions of the log (its retention, the newest `impact_questions`) that did not get this post when they
    were asked and get it now: what an alternate question changes besides the questions it was added for.
    Only questions sharing a content word with it are asked again; their text is the log's, masked."""
    terms = set(content_key(question).split())
    since = services.now() - timedelta(days=max(1, services.settings.question_log_days))
    services.flush_questions()
    seen, changed = {question.casefold()}, []
    skipped = set(skip)
    for q in services.ops.recent_questions(since, limit=int(tunables()["impact_questions"])):
        if q.id in skipped or q.text.casefold() in seen:
            continue
        seen.add(q.text.casefold())
        before = q.ids[0] if q.kind == "post" and q.ids else None
        if before == post_id or not terms & set(content_key(q.text).split()):
            continue
        answer = services.engine.answer(q.text)
        if answer.kind == "post" and answer.hits and answer.hits[0].id == post_id:
            changed.append(q)
    return changed


def stats_lines(services: Services, since: datetime, lang: str, *, top: int = 3) -> list[str]:
    """For /stats: the answer rate, the 👍 rate and the most frequent unanswered groups of a period."""
    from bot.feedback import rate

    counts = services.ops.question_counts(since, services.now())
    asked, answered = counts["asked"], counts["answered"]
    share = f"{round(100 * answered / asked)}%" if asked else "–"
    lines = [t(lang, "staff_stats_answer_rate", rate=share, answered=str(answered), asked=str(asked)),
             t(lang, "staff_stats_vote_rate", rate=rate(counts["up"], counts["down"]))]
    digest = build(services, since, groups=top, save=False)
    if digest.groups:
        lines.append(t(lang, "staff_stats_unanswered"))
        lines += [f"• {escape(truncate_words(g.text, 80))} ×{g.count}" for g in digest.groups]
    return lines

