"""Running broadcasts inside the bot: background tasks, one edited progress message, the delivery
report, scheduled sends on the JobQueue, and resuming at start-up.

The delivery itself (pacing, retries, per-recipient state) is bot/broadcast.py's Broadcaster; this
module only ties it to the running Application and to the staff member's chat.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application, ContextTypes

from bot import announce, callbacks
from bot.broadcast import Broadcaster, ProgressInfo, Report
from bot.i18n import t
from bot.telegram_delivery import telegram_sender

log = logging.getLogger(__name__)

DUE_CHECK_S = 30  # how often the bot looks for broadcasts scheduled by `python -m bot announce`
_TASKS, _BROADCASTER, _STARTED, _DUE_CHECK = "staff_broadcast_tasks", "staff_broadcaster", "staff_started", \
    "broadcast-due-check"


def _cb(action: str, arg: str = "") -> str:
    return callbacks.encode("staff", action, arg)


# -- running broadcasts ------------------------------------------------------------------------


class _Stopping(BaseException):
    """The bot is stopping: end the broadcast task before the next send, leaving it resumable.
    A BaseException, so the Broadcaster does not record it as a recipient's error."""


def _send_unless_stopping(app: Application, send_fn):
    async def send_fn_guarded(chat_id: int, text_html: str, buttons_json: str) -> None:
        if app.bot_data.get(_STARTED) and not app.running:
            raise _Stopping  # nothing is in flight: this recipient stays pending for the next start
        await send_fn(chat_id, text_html, buttons_json)

    return send_fn_guarded


def broadcaster(app: Application) -> Broadcaster:
    """The one Broadcaster of this process: one token bucket paces every broadcast."""
    found = app.bot_data.get(_BROADCASTER)
    if found is None:
        svc = app.bot_data["services"]
        found = Broadcaster(svc.ops, _send_unless_stopping(app, telegram_sender(app.bot)),
                            rate_per_s=svc.settings.broadcast_rate)
        app.bot_data[_BROADCASTER] = found
    return found


def running_tasks(app: Application) -> list[asyncio.Task]:
    """Broadcast tasks of this process (tests await them)."""
    return list(app.bot_data.get(_TASKS, {}).values())


def launch(app: Application, broadcast_id: int, lang: str | None = None) -> asyncio.Task:
    """Run a broadcast in the background (once per process), with progress edits and a report."""
    tasks: dict[int, asyncio.Task] = app.bot_data.setdefault(_TASKS, {})
    existing = tasks.get(broadcast_id)
    if existing is not None and not existing.done():
        return existing
    work, name = _run_broadcast(app, broadcast_id, lang), f"broadcast-{broadcast_id}"
    # Application.create_task lets app.stop() wait for the task (which then pauses at once, see
    # _send_unless_stopping); before app.start() (tests) a plain task avoids PTB's warning.
    task = app.create_task(work, name=name) if app.running else asyncio.get_running_loop().create_task(work, name=name)
    tasks[broadcast_id] = task
    task.add_done_callback(lambda done: tasks.pop(broadcast_id) if tasks.get(broadcast_id) is done else None)
    return task


def _staff_lang(app: Application, staff_id: int) -> str:
    return (app.user_data.get(staff_id) or {}).get("lang") or "en"


async def _run_broadcast(app: Application, broadcast_id: int, lang: str | None) -> Report | None:
    svc = app.bot_data["services"]
    ops = svc.ops
    chat_id: int | None = None
    try:
        info = ops.broadcast(broadcast_id)
        if info.finished:
            return None
        lang = lang or _staff_lang(app, info.staff_id)
        announce.prepare(ops, broadcast_id)
        chat_id, message_id = info.progress_chat_id, info.progress_message_id
        if (chat_id is None or message_id is None) and info.staff_id > 0:  # 0: created in the terminal
            chat_id, message_id = await _open_progress(app, broadcast_id, info.staff_id, lang)
        report = await broadcaster(app).run(broadcast_id, _progress_editor(app, chat_id, message_id, info.topic, lang))
        if report.ran:
            log.info("broadcast %s ended %s: %s sent, %s failed, %s pending", broadcast_id, report.state,
                     report.sent, report.failed, report.pending)
            if chat_id or info.staff_id > 0:
                await _send_report(app, chat_id or info.staff_id, report, lang)
        return report
    except _Stopping:
        log.info("broadcast %s paused: the bot is stopping; the next start resumes it", broadcast_id)
    except Exception:
        log.exception("broadcast %s stopped by an error; the next start resumes it", broadcast_id)
        try:
            info = ops.broadcast(broadcast_id)
            if chat_id or info.staff_id > 0:
                await app.bot.send_message(chat_id or info.staff_id,
                                           t(lang or "en", "staff_broadcast_error", id=str(broadcast_id)))
        except Exception as exc:  # the network may be why we are here
            log.warning("could not tell staff about broadcast %s: %s", broadcast_id, type(exc).__name__)
    return None


def _cancel_markup(broadcast_id: int, lang: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t(lang, "staff_cancel_broadcast"),
                                                       callback_data=_cb("bcancel", str(broadcast_id)))]])


async def _open_progress(app: Application, broadcast_id: int, staff_id: int, lang: str) -> tuple[int | None, int | None]:
    """A progress message for a broadcast that has none (scheduled, or from the terminal)."""
    try:
        message = await app.bot.send_message(staff_id, t(lang, "staff_ann_starting", id=str(broadcast_id)),
                                             parse_mode="HTML", reply_markup=_cancel_markup(broadcast_id, lang))
    except TelegramError as exc:
        log.info("broadcast %s: no progress message for staff %s (%s)", broadcast_id, staff_id, exc)
        return None, None
    app.bot_data["services"].ops.set_progress_message(broadcast_id, message.chat_id, message.message_id)
    return message.chat_id, message.message_id


def _progress_editor(app: Application, chat_id: int | None, message_id: int | None, topic: str,
                     lang: str) -> Callable[[ProgressInfo], Awaitable[None]] | None:
    """Edits the one progress message (the Broadcaster calls it at most every ~2 s, and at the end)."""
    if chat_id is None or message_id is None:
        return None

    async def edit(progress: ProgressInfo) -> None:
        markup = None if progress.final else _cancel_markup(progress.broadcast_id, lang)
        try:
            await app.bot.edit_message_text(announce.progress_text(progress, topic, lang), chat_id=chat_id,
                                            message_id=message_id, parse_mode="HTML", reply_markup=markup)
        except BadRequest as exc:
            if "not modified" not in exc.message.lower():
                log.info("broadcast %s: progress edit failed: %s", progress.broadcast_id, exc.message)
        except TelegramError as exc:
            log.info("broadcast %s: progress edit failed: %s", progress.broadcast_id, type(exc).__name__)

    return edit


async def _send_report(app: Application, chat_id: int, report: Report, lang: str) -> None:
    ops = app.bot_data["services"].ops
    text = announce.report_text(ops, report.broadcast_id, lang, elapsed_s=report.elapsed_s,
                                stopped_reason=report.stopped_reason)
    markup = None
    if report.state == "running":  # paused after a run of errors: offer to try again
        markup = InlineKeyboardMarkup([[InlineKeyboardButton(
            t(lang, "staff_resume_broadcast"), callback_data=_cb("bresume", str(report.broadcast_id)))]])
    try:
        await app.bot.send_message(chat_id, text, parse_mode="HTML", reply_markup=markup)
    except TelegramError as exc:
        log.warning("broadcast %s: could not send the report: %s", report.broadcast_id, type(exc).__name__)


def stop_broadcast(app: Application, broadcast_id: int, lang: str, staff_id: int | None = None) -> str:
    """Cancel a broadcast (stored state, the run in this process, its timer); the staff-facing answer."""
    ops = app.bot_data["services"].ops
    try:
        ops.broadcast(broadcast_id)
    except KeyError:
        return t(lang, "staff_cancel_unknown", id=str(broadcast_id))
    found = app.bot_data.get(_BROADCASTER)
    changed = found.cancel(broadcast_id) if found is not None else ops.cancel_broadcast(broadcast_id)
    _disarm(app, broadcast_id)
    info = ops.broadcast(broadcast_id)
    if not changed:
        return t(lang, "staff_cancel_finished", id=str(broadcast_id),
                 state=t(lang, f"staff_state_name_{info.state}"))
    log.info("staff %s cancelled broadcast %s after %s sent", staff_id, broadcast_id, info.sent)
    return t(lang, "staff_cancel_done", id=str(broadcast_id), sent=str(info.sent))


def resume_broadcast(app: Application, broadcast_id: int, lang: str) -> str:
    """Resume a paused broadcast (still 'running' in the store) in this process."""
    try:
        info = app.bot_data["services"].ops.broadcast(broadcast_id)
    except KeyError:
        return t(lang, "staff_cancel_unknown", id=str(broadcast_id))
    if info.state != "running":
        return t(lang, "staff_cancel_finished", id=str(broadcast_id), state=t(lang, f"staff_state_name_{info.state}"))
    launch(app, broadcast_id, lang)
    return t(lang, "staff_resuming", id=str(broadcast_id))


# -- scheduling --------------------------------------------------------------------------------


def _job_name(broadcast_id: int) -> str:
    return f"broadcast-{broadcast_id}"


async def _fire(context: ContextTypes.DEFAULT_TYPE) -> None:
    """A scheduled broadcast's time has come."""
    launch(context.application, int(context.job.data))


async def _due_check(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Broadcasts scheduled from the terminal while the bot runs have no timer here: start due ones."""
    svc = context.application.bot_data["services"]
    for info in svc.ops.due_scheduled(svc.now()):
        launch(context.application, info.id)


def arm(app: Application, broadcast_id: int, when: datetime) -> None:
    """Run the broadcast at `when` with the JobQueue; a time already past runs it at once."""
    svc = app.bot_data["services"]
    if when <= svc.now():
        launch(app, broadcast_id)
        return
    _disarm(app, broadcast_id)
    if app.job_queue is None:  # PTB without the job-queue extra: a sleeping task does the same
        async def later() -> None:
            await asyncio.sleep((when - svc.now()).total_seconds())
            launch(app, broadcast_id)

        app.bot_data.setdefault(_TASKS + "_timers", {})[broadcast_id] = asyncio.get_running_loop().create_task(later())
        return
    app.job_queue.run_once(_fire, when=when, data=broadcast_id, name=_job_name(broadcast_id))


def _disarm(app: Application, broadcast_id: int) -> None:
    if app.job_queue is not None:
        for job in app.job_queue.get_jobs_by_name(_job_name(broadcast_id)):
            job.schedule_removal()
    timer = app.bot_data.get(_TASKS + "_timers", {}).pop(broadcast_id, None)
    if timer is not None:
        timer.cancel()


async def resume_broadcasts(app: Application) -> None:
    """At start-up: resume broadcasts a stopped or killed bot left running; re-arm scheduled ones."""
    svc = app.bot_data["services"]
    if app.running:
        app.bot_data[_STARTED] = True
    for info in svc.ops.unfinished_broadcasts():
        log.info("resuming broadcast %s: %s of %s recorded", info.id, info.sent + info.failed, info.total)
        launch(app, info.id)
    for info in svc.ops.scheduled_broadcasts():
        when = announce.scheduled_time(info)
        log.info("re-arming broadcast %s for %s", info.id, announce.format_when(when) if when else "now")
        arm(app, info.id, when or svc.now())
    if app.job_queue is not None and not app.job_queue.get_jobs_by_name(_DUE_CHECK):
        app.job_queue.run_repeating(_due_check, interval=DUE_CHECK_S, first=DUE_CHECK_S, name=_DUE_CHECK)


