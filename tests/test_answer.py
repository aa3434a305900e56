"""The answer engine on the real bundled store: what a citizen asks, what they get."""

from __future__ import annotations

import pytest

from bot.answer import AnswerEngine
from bot.bulk_tokens import Vocabulary, tokenise_ascii
from bot.i18n import t
from bot.matcher import Docs, Index
from bot.store import PostStore
from bot.text import normalise, words


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> AnswerEngine:
    import shutil

    from bot.config import BUNDLED_STORE

    path = tmp_path_factory.mktemp("store") / "store.json"
    shutil.copy(BUNDLED_STORE, path)
    return AnswerEngine.from_store(PostStore(path))


# Questions written for these tests (not the dev set): typos, paraphrases, other languages.
POSTS = [
    ("honduras anti trafficking memorandum", "p004"),
    ("paraguay immigration agreement", "p005"),
    ("kaohsiung gas explosions 2014", "p011"),
    ("belize immigration mou", "p012"),
    ("guatamala trafficing agreement", "p015"),           # typos
    ("swaziland immigration cooperation", "p016"),        # old name of Eswatini
    ("palau antitrafficking accord", "p027"),
    ("employment gold card rules", "p042"),
    ("nia director jeff yang missing migrant workers", "p045"),
    ("four crystal balls lit at the opening", "p053"),
    ("same sex marriage registration first day", "p062"),
    ("shoushan national natural park headquarters", "p072"),
    ("philipines trafficking memorandum", "p087"),        # typo
    ("new ARC numbering format", "p089"),
    ("taiwan rescue teams sent to turkey after the earthquake", "p112"),
    ("akut equipment donation", "p113"),
    ("attempted trafficking criminalised amendment", "p114"),
    ("philippine immigration commissioner first visit", "p118"),
    ("taiwan japan border information memorandum", "p131"),
    ("同性婚姻登記", "p062"),                               # Traditional Chinese
    ("壽山國家自然公園", "p072"),
]


@pytest.mark.parametrize("question, expected", POSTS)
def test_questions_find_the_right_post(engine, question, expected):
    answer = engine.answer(question)
    assert answer.kind == "post", (question, answer.reason, answer.suggestions)
    assert answer.hits[0].id == expected, [h.id for h in answer.hits[:3]]


@pytest.mark.parametrize("question, expected", [
    ("2015 anti trafficking workshop", "p018"),
    ("2017 anti trafficking workshop", "p035"),
    ("tier 1 in 2016", "p024"),
    ("tier 1 rating 2017 report", "p034"),
    ("national disaster prevention day 2022", "p107"),
])
def test_the_year_in_the_question_picks_the_yearly_post(engine, question, expected):
    answer = engine.answer(question)
    assert answer.kind == "post" and answer.hits[0].id == expected, [h.id for h in answer.hits[:3]]


@pytest.mark.parametrize("question", [
    "best dumplings in taichung",
    "how do i apply for a japanese visa",
    "football results",
    "2027 anti trafficking workshop",   # a year the store has no post about
    "qwertyuiop",
    "???",
    "🙂🙂",
    "",
    "   ",
    "hello",
    "thank you",
])
def test_questions_the_store_cannot_answer_are_declined(engine, question):
    answer = engine.answer(question)
    assert answer.kind == "none", (answer.kind, [h.id for h in answer.hits[:3]])


@pytest.mark.parametrize("question, expected", [
    ("what is the phone number of the ministry of the interior", {"c01", "c02"}),
    ("anti fraud hotline number", {"c09"}),
    ("which number do i call for an ambulance", {"c04"}),
    ("is 0800-024-111 still in service", {"c08"}),
    ("where is the ministry of the interior located", {"c02", "c01"}),
    ("內政部電話幾號", {"c01", "c02"}),
])
def test_contact_questions_get_the_contact(engine, question, expected):
    answer = engine.answer(question)
    assert answer.kind == "contact" and answer.hits[0].id in expected, (answer.kind, answer.ids[:3])


@pytest.mark.parametrize("question", ["latest news", "what's new", "最新消息", "berita terbaru", "tin mới nhất"])
def test_latest_news_lists_the_newest_posts(engine, question):
    answer = engine.answer(question)
    assert answer.kind == "list"
    dates = [engine.posts[i].date for i in answer.ids]
    assert dates == sorted(dates, reverse=True) and dates[0] == max(p.date for p in engine.posts.values())


def test_someone_in_danger_gets_a_referral_before_any_post(engine):
    answer = engine.answer("my employer took my passport and locked me in the dormitory")
    assert answer.kind == "referral"
    assert "c03" in answer.ids[:3]  # 110 for someone locked in


def test_a_close_call_offers_did_you_mean_candidates(engine):
    answer = engine.answer("the tainan earthquake where an apartment block fell over, who built it")
    if answer.kind == "none":
        assert answer.suggestions and answer.suggestions[0].id == "p022"
    else:
        assert answer.hits[0].id == "p022"


def test_a_new_post_is_searchable_as_soon_as_it_is_stored(store_path):
    store = PostStore(store_path)
    engine = AnswerEngine.from_store(store)
    assert engine.answer("lantern festival drone show in pingtung").kind == "none"
    store.add_post({"id": "t001", "title": "Drone show at the Pingtung lantern festival", "date": "2026-02-20",
                    "category": "news", "body": "The ministry helped with safety at the lantern festival drone show."})
    after = engine.answer("lantern festival drone show in pingtung")
    assert after.kind == "post" and after.hits[0].id == "t001"


def test_explain_shows_corrections_and_score_parts(engine):
    info = engine.explain("philipines trafficing memorandum")
    assert ("philipines", "philippines") in [tuple(c) for c in info["corrected"]] or info["posts"][0]["id"] == "p087"
    assert {"coverage", "title", "bm25", "year"} <= set(info["posts"][0]["parts"])
    assert info["answer"]["kind"] == "post"


def test_explain_shows_the_answerability_signals_and_the_decision(engine):
    info = engine.explain("how do i renew my driving licence")
    decision = info["answerability"]
    assert set(decision["features"]) == set(decision["pushes"])
    assert 0.0 <= decision["probability"] <= 1.0
    expected = ("answer" if decision["probability"] >= decision["thresholds"]["answer"] else
                "tentative" if decision["probability"] >= decision["thresholds"]["tentative"] else "decline")
    assert decision["outcome"] == expected
    assert (info["answer"]["kind"] == "none") == (expected == "decline")


def test_real_english_words_are_not_turned_into_other_words(engine):
    plan = engine.post_index.plan("minister resigned")
    corrected_from = [c[0] for c in plan.corrected]
    assert "resigned" not in corrected_from or ("resigned", "resign") in plan.corrected


def test_long_and_hostile_text_is_answered_quickly_and_safely(engine):
    for text in ["(a+)+$" * 500, "<b>" * 2000, "\u202e\u200b" * 3000, "a" * 10_000, "*_[]()~`>#+-=|{}.!" * 300]:
        answer = engine.answer(text)
        assert answer.ms < 1000
        assert answer.kind in ("none", "post", "contact", "list", "referral")


@pytest.mark.parametrize("text", [
    "The U.S. Department's 2018 report: Tier-1, again!",
    "Taiwan and Indonesia signed an MOU on 2015-08-17 (third meeting).",
    "numbers 1955, 110 and 0800-024-111; e-Gate & eID",
])
def test_bulk_tokeniser_reads_ascii_like_the_ordinary_path(text):
    vocab = Vocabulary()
    text_idx, ids = tokenise_ascii([text, text.upper()], vocab)
    found = vocab.words
    expected = words(normalise(text, limit=100_000))
    assert [found[i] for i, t in zip(ids, text_idx, strict=True) if t == 0] == expected
    assert [found[i] for i, t in zip(ids, text_idx, strict=True) if t == 1] == expected


def test_index_over_columns_scores_titles_above_bodies():
    docs = Docs(ids=["a", "b"], dates=["2020-01-01", "2021-01-01"],
                fields={"title": ["Typhoon drill in Hualien", "Budget report"],
                        "body": ["Rescue teams trained.", "The typhoon drill budget was approved."]})
    index = Index(docs, {"title": 3.0, "body": 1.0})
    hits = index.score(index.plan("typhoon drill"))
    assert [h.id for h in hits] == ["a", "b"]


@pytest.mark.parametrize("text", [
    "write me a poem about the Mid-Autumn festival", "compose a song about Taiwan's police",
    "幫我寫一首關於颱風的詩", "buatkan puisi tentang hari kemerdekaan", "viết cho tôi một bài thơ về mùa xuân",
    "แต่งกลอนวันแม่ให้หน่อย", "sumulat ka ng tula tungkol sa pasko",
])
def test_a_request_to_compose_something_is_declined_as_out_of_scope(engine, text):
    answer = engine.answer(text)
    assert answer.kind == "none" and answer.reason == "compose", (text, answer.reason)


@pytest.mark.parametrize("text", ["tell me the story of the taiwan indonesia MOU", "台印合作的故事",
                                  "làm thợ điện ở Đài Loan cần giấy tờ gì"])
def test_a_story_or_a_worker_is_not_a_request_to_compose(engine, text):
    assert engine.answer(text).reason != "compose"


# -- questions that ask for a price or a death toll (bot/fact_types.py) ----------------------------


@pytest.mark.parametrize("text, kind", [
    ("what is the fee for an ARC", "price"), ("how much does it cost to renew", "price"),
    ("居留證規費多少錢", "price"), ("biaya perpanjang paspor berapa", "price"), ("lệ phí làm hộ chiếu", "price"),
    ("ค่าธรรมเนียมต่อวีซ่า", "price"), ("magkano ang renewal", "price"),
    ("death toll of the typhoon", "casualties"), ("how many people died in the fire", "casualties"),
    ("地震死亡人數", "casualties"),
])
def test_a_question_asking_for_a_price_or_a_death_toll_is_recognised(text, kind):
    from bot.fact_types import default_fact_types

    assert default_fact_types().asked(text) == [kind]


@pytest.mark.parametrize("text", ["who is in charge of the 1955 hotline", "my employer does not pay me",
                                  "e-Gate registration at the airport", "actual price registration"])
def test_other_questions_ask_for_no_such_fact_or_are_answered_by_a_post_that_states_it(engine, text):
    from bot.fact_types import default_fact_types

    answer = engine.answer(text)
    top = engine.posts[answer.hits[0].id] if answer.kind == "post" and answer.hits else None
    assert top is None or default_fact_types().unstated(text, top) == []


def test_a_post_that_names_no_fee_is_offered_not_given_as_the_answer_to_what_it_costs(engine):
    from bot.render import render_answer

    answer = engine.answer("how much does it cost to sign up for the e-Gate")
    assert answer.kind == "none" and answer.reason == "fact-not-stated"
    assert answer.suggestions and "e-gate" in engine.posts[answer.suggestions[0].id].title.casefold()
    reply = render_answer(answer, engine.posts, engine.contacts, lang="en", now=engine.clock())
    assert "do not give that figure" in reply.text and "1996" in reply.text
    assert t("en", "none_related") in reply.text and "Did you mean" not in reply.text
    assert [b.data for row in reply.buttons for b in row][0] == f"p:{answer.suggestions[0].id}"


def test_a_post_that_states_the_figure_still_answers(engine):
    # p011 reports the 2014 Kaohsiung gas explosions, with their dead and injured.
    answer = engine.answer("2014 kaohsiung gas explosion death toll")
    assert answer.kind == "post" and answer.hits[0].id == "p011"


def test_posts_the_words_match_equally_are_ordered_by_meaning_and_the_question_is_answered(engine):
    # Three posts on the 2018 workshop match "2018 anti-trafficking workshop" word for word; which of them
    # is shown first is the encoder's call, and the question is answered, with the others as near ties.
    answer = engine.answer("2018 anti-trafficking workshop")
    workshop_2018 = {"p053", "p054", "p055"}
    assert answer.kind == "post" and answer.reason == "match"
    assert {h.id for h in answer.hits[:3]} == workshop_2018


@pytest.mark.parametrize("text", ["eleventh taiwan vietnam immigration meeting",
                                  "the 20th taiwan-philippines migrant worker conference"])
def test_a_question_about_an_edition_no_post_covers_is_not_answered_with_another_edition(engine, text):
    answer = engine.answer(text)
    assert answer.kind == "none" and answer.reason == "edition-not-covered", (text, answer.reason)
    assert answer.suggestions  # the meetings that are covered are offered


@pytest.mark.parametrize("text, post", [("8th taiwan philippines migrant worker conference", "p069"),
                                        ("who attended the sixth bilateral immigration meeting with indonesia",
                                         "p051")])
def test_a_question_about_a_covered_edition_is_answered(engine, text, post):
    answer = engine.answer(text)
    assert answer.kind == "post" and answer.hits[0].id == post
