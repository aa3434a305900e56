"""End to end: the learning loop with `python -m bot` as its own process and the loopback Bot API emulator —
a citizen's 👎, a declined question, the staff member's /digest and "Add as alternate question", and the
next answer; then the CLI adds an alternate question beside the running bot, which answers with it."""

from __future__ import annotations

import asyncio
import os
import sys

from tests.test_e2e import ROOT, TOKEN, emulator, start_bot, stop_bot  # noqa: F401 - the emulator fixture

CITIZEN, STAFF = 6001, 6002


def _buttons(message: dict) -> list[dict]:
    return [b for row in (message.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]


def _data(message: dict, prefix: str) -> list[str]:
    return [b["callback_data"] for b in _buttons(message) if b.get("callback_data", "").startswith(prefix)]


async def test_votes_the_digest_and_an_alternate_question_through_the_bot_process(emulator, tmp_path):  # noqa: F811
    proc = await start_bot(emulator, tmp_path, BOT_STAFF_IDS=str(STAFF), BOT_DIGEST_TIME="off")
    try:
        await emulator.send_text(CITIZEN, "eswatini immigration MOU")
        [answer] = await emulator.wait_for_messages(CITIZEN, 1, timeout=30)
        await emulator.press_button(CITIZEN, answer, _data(answer, "v:down:")[0])
        follow_up = (await emulator.wait_for_messages(CITIZEN, 2))[1]
        assert "1996" in follow_up["text"]

        await emulator.send_text(CITIZEN, "wedding registration for two women")
        declined = (await emulator.wait_for_messages(CITIZEN, 3))[2]
        assert "could not find" in declined["text"]

        await emulator.send_text(STAFF, "/digest")
        sent = await emulator.wait_for(lambda: [m for m in emulator.messages_to(STAFF)
                                                if any(d.endswith(":p062") for d in _data(m, "dg:add:"))], 15,
                                       "the digest group with p062 offered")
        group = sent[0]
        await emulator.wait_for(lambda: any("eswatini" in m["text"] for m in emulator.messages_to(STAFF)), 10,
                                "the answer that got a 👎, in the digest too")
        add = next(d for d in _data(group, "dg:add:") if d.endswith(":p062"))
        answered = len(emulator.callback_answers)
        await emulator.press_button(CITIZEN, group, add, chat_id=STAFF)  # not staff: refused
        await emulator.wait_for(lambda: len(emulator.callback_answers) > answered, 10, "the refusal")
        assert "staff" in emulator.callback_answers[-1].get("text", "")
        before = len(emulator.messages_to(STAFF))
        await emulator.press_button(STAFF, group, add)
        said = (await emulator.wait_for_messages(STAFF, before + 1))[-1]
        assert "now answers it with p062" in said["text"]

        await emulator.send_text(CITIZEN, "wedding registration for two women")
        again = (await emulator.wait_for_messages(CITIZEN, 4))[3]
        assert "could not find" not in again["text"] and _data(again, "v:up:")

        # The CLI beside the running bot: the bot picks the store's change up within seconds.
        env = {**os.environ, "BOT_DB_PATH": str(tmp_path / "store.json")}
        cli = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "posts", "add-question", "p129", "three day drill schedule kinmen",
            cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(cli.communicate(), 60)
        assert cli.returncode == 0, out.decode()
        await asyncio.sleep(3)  # the bot looks at the store every 2 s
        await emulator.send_text(CITIZEN, "three day drill schedule kinmen")
        answered = (await emulator.wait_for_messages(CITIZEN, 5))[4]
        assert "could not find" not in answered["text"]
    finally:
        code, log = await stop_bot(proc)
    assert code == 0, log[-3000:]
