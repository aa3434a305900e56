"""When a message asks for a contact, and which one (bot/contact_router.py, data/contact_*.json).

Questions written for these tests, not taken from the dev sets."""

from __future__ import annotations

import shutil

import pytest

from bot.answer import AnswerEngine
from bot.assistant import Assistant
from bot.config import BUNDLED_STORE
from bot.store import PostStore


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> AnswerEngine:
    path = tmp_path_factory.mktemp("store") / "store.json"
    shutil.copy(BUNDLED_STORE, path)
    return AnswerEngine.from_store(PostStore(path))


def phone_of(engine, answer) -> str:
    return engine.contacts[answer.ids[0]].phone


@pytest.mark.parametrize("text", ["contact", "how do I contact the ministry", "hotline", "phone", "內政部電話",
                                  "what is your phone number"])
def test_a_bare_request_for_a_contact_gets_the_ministrys_own_card(engine, text):
    answer = engine.answer(text)
    assert answer.kind == "contact" and phone_of(engine, answer) == "1996"


@pytest.mark.parametrize("text", ["address", "what is the postcode of the ministry", "內政部的地址"])
def test_a_request_for_the_address_gets_the_ministrys_address(engine, text):
    answer = engine.answer(text)
    assert answer.kind == "contact" and engine.contacts[answer.ids[0]].address


@pytest.mark.parametrize("text, phone", [
    ("is the 1955 line open on sunday", "1955"),
    ("1990專線有越南語服務嗎", "1990"),
    ("who do i call about broken streetlights in taipei", "1999"),
    ("which number to report a fake online shop", "165"),
    ("I smell smoke in the stairwell", "119"),
    ("家裡有很重的瓦斯味", "119"),
    ("ambulance number", "119"),
    # A theft described rather than named is for the police; a neighbour's barking dog for the city line;
    # a Taiwanese abroad for MOFA's emergency centre.
    ("somebody grabbed my bag on the MRT platform, who should i call", "110"),
    ("the dog upstairs keeps barking at 3am, who handles that in kaohsiung", "1999"),
    ("taiwanese tourist in osaka, i lost my passport, is there a number to call", "+886-800-085-095"),
])
def test_a_need_or_a_typed_number_with_a_question_about_it_gets_that_line(engine, text, phone):
    answer = engine.answer(text)
    assert answer.kind == "contact", (text, answer.reason)
    assert phone_of(engine, answer) == phone


@pytest.mark.parametrize("text", [
    "1990 hotline",  # about the line: the posts on it
    "number of foreign residents in 2019",
    "my friend was injured in the 2014 kaohsiung gas explosion",  # a past event, not an emergency now
    "what time is it in new york",
    "how many calls did the 1955 hotline get in 2021",  # a year, no request for a number: the posts
    "was the 2019 earthquake alert sent to every phone",
    "will the new ID card print my full house number",  # 'number' here is not a phone number
])
def test_questions_that_do_not_ask_for_a_contact_do_not_get_one(engine, text):
    assert engine.answer(text).kind != "contact"


def test_a_contact_answer_is_one_short_card_in_the_readers_language_without_research_notes(engine):
    answer, reply = Assistant(engine).ask("1990專線幾點開", "en")
    card = engine.contacts[answer.ids[0]]
    assert card.i18n["zh-TW"]["name"] in reply.text
    assert len(reply.text.splitlines()) <= 8
    assert card.notes[:30] not in reply.text and "copy of the" not in reply.text
    assert all(b.url != card.url for row in reply.buttons for b in row if b.url) or card.url == card.page_url


@pytest.mark.parametrize("text", [
    "my uncle fell off the ladder and is bleeding a lot, please help",
    "she collapsed at work and is bleeding from her head, what do we do",
])
def test_an_injury_with_no_one_causing_it_puts_the_ambulance_first(engine, text):
    answer = engine.answer(text)
    assert answer.kind in ("referral", "contact") and phone_of(engine, answer) == "119", (text, answer.ids)


def test_an_injury_someone_caused_keeps_the_police_first(engine):
    answer = engine.answer("my boss cut me with a knife and i am bleeding")
    assert answer.kind == "referral" and phone_of(engine, answer) == "110"
