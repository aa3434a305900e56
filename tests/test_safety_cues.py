"""Situations no indicator group names: the cue scores (data/safety/cues.json), the soft note, the card.

Messages here are written for these tests from how the crimes are described (police and NGO advice),
not taken from the dev sets."""

from __future__ import annotations

import shutil
from datetime import datetime

import pytest

from bot import safety
from bot.answer import TAIPEI, AnswerEngine
from bot.config import BUNDLED_STORE
from bot.render import render_answer
from bot.store import PostStore

NOON = datetime(2026, 12, 2, 12, 0, tzinfo=TAIPEI)


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> AnswerEngine:
    path = tmp_path_factory.mktemp("store") / "store.json"
    shutil.copy(BUNDLED_STORE, path)
    return AnswerEngine.from_store(PostStore(path), clock=lambda: NOON)


@pytest.mark.parametrize("text, situation, first_three", [
    ("someone is calling me saying my bank account is frozen and i must transfer money now",
     "fraud_in_progress", {"165", "110"}),
    ("scam call right now", "fraud_in_progress", {"165"}),
    ("a guy i met on a dating app says his investment platform gives guaranteed profit, i already paid 3 times "
     "and now he says i must pay a withdrawal fee", "fraud_in_progress", {"165"}),
    ("มีคนอัดคลิปตอนฉันเปลือยผ่านวิดีโอคอล แล้วขู่ว่าจะส่งให้เพื่อนทุกคนถ้าไม่โอนเงินให้", "sextortion", {"110", "165"}),
    ("對方錄下我視訊時的裸照，說不匯五萬就傳給我全家", "sextortion", {"110", "165"}),
    ("my friend said her broker sent her to work in a karaoke bar and she cannot refuse customers",
     "forced_sex_work", {"110"}),
    ("kontrak saya jaga nenek tapi majikan suruh saya kerja di pabrik tiap hari, tidak pernah libur",
     "forced_other_work", {"1955"}),
])
def test_fresh_wordings_of_danger_get_the_card_with_the_right_number(engine, text, situation, first_three):
    answer = engine.answer(text)
    assert answer.kind == "referral", (text, answer.reason, safety.cue_scores(text))
    assert situation in answer.situations, answer.situations
    phones = {engine.contacts[i].phone for i in answer.ids[:3]}
    assert phones & first_three, phones


def test_the_card_comes_in_the_script_of_the_message(engine):
    answer = engine.answer("มีคนอัดคลิปตอนฉันเปลือยผ่านวิดีโอคอล แล้วขู่ว่าจะส่งให้เพื่อนทุกคนถ้าไม่โอนเงินให้")
    assert answer.lang == "th"
    reply = render_answer(answer, engine.posts, engine.contacts, lang=answer.lang, now=NOON)
    assert "โทร" in reply.text and reply.no_preview and reply.sensitive


@pytest.mark.parametrize("text", [
    "how many trafficking victims were identified in 2019",
    "what did the 2018 workshop say about forced labor on fishing boats",
    "how does the 165 hotline block scam calls",
    "my employer is very kind and pays on time, how do i renew my ARC",
    "what is the fine for overstaying a visa",
])
def test_questions_about_these_subjects_are_not_emergencies(engine, text):
    assert engine.answer(text).kind != "referral"


def test_danger_stated_after_a_long_preamble_is_read(engine):
    preamble = ("I came to Taiwan three years ago to work in a factory near Taichung and I like the food here. "
                * 8)
    answer = engine.answer(preamble + "Now my broker took my passport and locks me in the dormitory at night.")
    assert len(preamble) > 500
    assert answer.kind == "referral"


def test_some_signs_below_the_referral_threshold_add_one_line_with_the_numbers(engine):
    text = "where do i report child abuse"  # a child and abuse: two kinds of evidence, no one in it yet
    hit = safety.check(text)
    assert hit is not None and hit.level == "soft"
    answer = engine.answer(text)
    assert answer.kind != "referral" and answer.safety_note
    reply = render_answer(answer, engine.posts, engine.contacts, lang="en", now=NOON)
    assert "If you are in danger now" in reply.text
    assert "113" in reply.text


def test_a_soft_note_is_rendered_in_the_readers_language(engine):
    from bot.answer_types import Answer

    answer = Answer("none", safety_note=("c09", "c03"), lang="zh")
    reply = render_answer(answer, engine.posts, engine.contacts, lang="zh", now=NOON)
    assert "如果你現在有危險" in reply.text and "165" in reply.text and "110" in reply.text


def test_thresholds_are_fitted_data_with_a_report():
    lex = safety.default_lexicon()
    assert lex.cues is not None
    assert 0 < lex.cues.soft_at <= lex.cues.referral_at
