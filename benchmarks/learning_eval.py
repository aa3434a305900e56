"""The learning loop on the dev questions, run on a TEMPORARY COPY of the store: data/store.json is never written.

    .venv/bin/python benchmarks/learning_eval.py [--n 20] [--keep DIR]

1. Copies data/store.json to a temporary folder and scores both dev files with the shared scorer against
   `python -m bot answer --jsonl --posts <export of the temporary store> --contacts ../shared/corpus/contacts.json`
   (BOT_DB_PATH pointing at the temporary store).
2. Asks every question of both dev files once through the bot's services, as citizens would (the engine, the
   question log: masked, never who asked). Of the dev2 questions it declines, `--n` go through the digest:
   every declined `post` question first (what alternate questions are for), then the others in file order.
3. Builds the digest and acts on every group holding one of them as a staff member who knows the right answer
   would, through the same calls as the digest's buttons: the right post among the offered ones -> "Add as
   alternate question"; not offered -> the search (the post's id typed) -> "Add"; a question nothing answers
   -> "Mark out of scope"; a contact or safety question -> "Ignore" (alternate questions belong to posts).
   The other groups wait for another day.
4. Exports the temporary store and scores both files again; prints the figures before and after, and every
   question whose verdict changed (the other questions must not get worse).
5. Then a staff member who heeds what the bot said when each alternate question was added (a lint warning,
   or "N other questions asked … would now be answered with this post too") presses Undo on those, and both
   files are scored a third time.

The alternate questions exist only in the temporary copy (they are evaluation questions: never copy them into
data/). Prints a report; the JSON summary is the last line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import callbacks, digest  # noqa: E402
from bot.config import BUNDLED_STORE, Settings  # noqa: E402
from bot.privacy import mask_personal  # noqa: E402
from bot.services import Services  # noqa: E402

SHARED = ROOT.parent / "shared"
SCORER = SHARED / "tools" / "score_eval.py"
CONTACTS = SHARED / "corpus" / "contacts.json"
FILES = {"dev": SHARED / "eval" / "questions-dev.jsonl", "dev2": SHARED / "eval" / "questions-dev2.jsonl"}
STAFF = 4242
_WRONG = re.compile(r"^\s+(\S+) \[(\w+)\] ")


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def export_posts(services: Services, path: Path) -> None:
    """The store's posts as a JSON list (with their alternate questions), for `answer --posts`."""
    path.write_text(json.dumps([p.to_record() for p in services.store.posts()], ensure_ascii=False), encoding="utf-8")


def score(name: str, posts: Path, store: Path) -> tuple[dict, set[str]]:
    """The shared scorer's figures and the ids it judged wrong."""
    command = [sys.executable, str(SCORER), str(FILES[name]), "--show-wrong", "--",
               sys.executable, "-m", "bot", "answer", "--jsonl", "--posts", str(posts), "--contacts", str(CONTACTS)]
    env = {**os.environ, "BOT_DB_PATH": str(store)}
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    lines = run.stdout.strip().splitlines()
    wrong = {m.group(1) for line in lines if (m := _WRONG.match(line))}
    return json.loads(lines[-1]), wrong


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> int:
    args = _args()
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="learning-eval-"))
    try:
        return run(args, tmp)
    finally:
        if not args.keep:  # the temporary copy goes, whatever happened
            shutil.rmtree(tmp, ignore_errors=True)


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20, help="declined dev2 questions sent through the digest")
    ap.add_argument("--keep", help="keep the temporary store in this folder (default: deleted)")
    return ap.parse_args()


def run(args: argparse.Namespace, tmp: Path) -> int:
    if not SCORER.exists():
        print(f"needs {SHARED} beside the project (the scorer and the dev files)", file=sys.stderr)
        return 2
    bundled_before = sha(BUNDLED_STORE)
    tmp.mkdir(parents=True, exist_ok=True)
    store = tmp / "store.json"
    shutil.copy(BUNDLED_STORE, store)
    for leftover in tmp.glob("store.state.sqlite3*"):
        leftover.unlink()
    services = Services.open(Settings(db_path=store, staff_ids=frozenset({STAFF})))
    try:
        # 1. before
        export_posts(services, tmp / "posts-before.json")
        before = {name: score(name, tmp / "posts-before.json", store) for name in FILES}

        # 2. every question asked once, as citizens ask; the declined dev2 questions chosen for the digest
        traffic = [q for name in FILES for q in load(FILES[name])]
        answers = {}
        for n, q in enumerate(traffic):
            answer = services.assistant.ask(q["q"])[0]
            services.record_question(answer, 100_000 + n)
            answers[q["id"]] = answer
        services.flush_questions()
        questions = load(FILES["dev2"])
        declined = [(q, answers[q["id"]]) for q in questions if answers[q["id"]].kind == "none"]
        chosen = ([qa for qa in declined if qa[0]["kind"] == "post"] +
                  [qa for qa in declined if qa[0]["kind"] != "post"])[: args.n]
        by_text: dict[str, list[dict]] = {}
        for q, answer in chosen:  # the log keeps the engine's cleaned text, masked
            by_text.setdefault(mask_personal(answer.query), []).append(q)

        # 3. the digest, and a staff member acting on each group
        found = digest.build(services, services.now() - timedelta(hours=1), groups=1000)
        actions = []
        for group in found.groups:
            asked = [q for text in dict.fromkeys(x.text for x in group.questions) for q in by_text.pop(text, [])]
            if not asked:
                continue  # a group of other questions: another day
            lead = asked[0]
            target = next((i for i in lead["expect"] if i in services.engine.posts), None)
            if lead["kind"] == "post" and target:
                how = "offered" if target in group.candidates else "searched"
                if how == "searched":  # "Another post…": the staff member types the post's id
                    reply = digest.search_reply(services, group.id, target, "en")
                    press = callbacks.decode(reply.buttons[0][0].data)
                    assert press is not None and press.args[2] == target
                outcome = digest.act(services, group.id, "add", target, "en")
                action = f"add to {target} ({how})"
            elif lead["kind"] == "none":
                outcome, action = digest.act(services, group.id, "out", None, "en"), "out of scope"
            else:
                outcome, action = digest.act(services, group.id, "ign", None, "en"), "ignore"
            actions.append({"group": group.id, "size": group.count, "text": group.text, "post": target,
                            "ids": [q["id"] for q in asked], "kinds": sorted({q["kind"] for q in asked}),
                            "candidates": list(group.candidates), "action": action, "ok": outcome.ok,
                            "said": re.sub(r"<[^>]+>", "", outcome.text)})

        # 4. after
        export_posts(services, tmp / "posts-after.json")
        after = {name: score(name, tmp / "posts-after.json", store) for name in FILES}
        added = {p.id: list(p.questions) for p in services.store.posts() if p.questions}

        # 5. heeding what the bot said when each was added: Undo
        heeded = [a for a in actions if a["action"].startswith("add") and "⚠️" in a["said"]]
        for a in heeded:  # "Undo" under what the bot said
            assert digest.act(services, a["group"], "undo", None, "en").ok
        export_posts(services, tmp / "posts-heeded.json")
        heeding = {name: score(name, tmp / "posts-heeded.json", store) for name in FILES}
    finally:
        services.close()
    assert sha(BUNDLED_STORE) == bundled_before, "the bundled store was written"

    chosen_ids = {q["id"] for q, _a in chosen}
    print(f"temporary store: {store} (bundled data/store.json unchanged: sha256 {bundled_before[:12]}…)")
    print(f"dev2 questions the bot declines: {len(declined)} ({dict(Counter(q['kind'] for q, _ in declined))}); "
          f"through the digest: {len(chosen)} ({dict(Counter(q['kind'] for q, _ in chosen))})")
    print(f"digest: {found.total_questions} questions in {found.total_groups} groups; staff act on the "
          f"{len(actions)} groups holding the {len(chosen)} chosen questions")
    for a in actions:
        print(f"  group {a['group']} x{a['size']} {a['kinds']} {a['ids']}: {a['action']}"
              f"{'' if a['ok'] else ' FAILED'} | offered {a['candidates']}")
        for line in a["said"].splitlines()[1:] if a["action"].startswith("add") else a["said"].splitlines()[:1]:
            print(f"      {line[:150]}")
        print(f"      “{a['text'][:110]}”")
    print(f"alternate questions now in the temporary store: {sum(len(v) for v in added.values())} on {len(added)} posts")
    summary = {"chosen": sorted(chosen_ids), "actions": Counter(a["action"].split(" (")[0].split(" to ")[0]
                                                                  for a in actions)}
    print(f"undone by a staff member heeding what the bot said: {[a['ids'] for a in heeded]}")
    for name, (label, result) in [(n, x) for n in FILES for x in (("added", after), ("heeding warnings", heeding))]:
        (b, wrong_b), (a, wrong_a) = before[name], result[name]
        fixed, broken = sorted(wrong_b - wrong_a), sorted(wrong_a - wrong_b)
        inside = [i for i in fixed if i in chosen_ids]
        print(f"\n{name}, {label}: accuracy {b['accuracy']} -> {a['accuracy']}; post {b.get('post_accuracy')} -> "
              f"{a.get('post_accuracy')}; none {b.get('none_accuracy')} -> {a.get('none_accuracy')}; "
              f"confident wrong {b['confident_wrong']} -> {a['confident_wrong']}; post MRR {b.get('post_mrr')} -> "
              f"{a.get('post_mrr')}")
        print(f"  now right: {fixed} ({len(inside)} of them among the {len(chosen_ids)} sent through the digest)")
        print(f"  now wrong: {broken}")
        others_b = len([i for i in wrong_b if i not in chosen_ids])
        others_a = len([i for i in wrong_a if i not in chosen_ids])
        print(f"  wrong among the other questions: {others_b} -> {others_a}")
        summary.setdefault(name, {"before": b})[label] = {
            "after": a, "fixed": fixed, "broken": broken, "other_wrong_before": others_b, "other_wrong_after": others_a}
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
