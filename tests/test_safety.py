"""The safety check, its routing, the hours rule, the /hotline directory and the referral card.

The messages below were written for these tests (not taken from the evaluation set): several phrasings per
language and situation, third-party reports, broken English, typos, Vietnamese without diacritics. The last
tests run the whole dev question set when ../shared is present.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from bot import hours, referral, safety
from bot.hours import TAIPEI
from bot.models import Contact, contact_from_record

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CONTACT_FILES = (
    ROOT / "data" / "sources" / "contacts.json",
    ROOT / "data" / "contacts.json",
    SHARED / "corpus" / "contacts.json",
)
DEV_QUESTIONS = SHARED / "eval" / "questions-dev.jsonl"

MON_0300 = datetime(2024, 5, 6, 3, 0, tzinfo=TAIPEI)  # a Monday
MON_0900 = datetime(2024, 5, 6, 9, 0, tzinfo=TAIPEI)
MON_2330 = datetime(2024, 5, 6, 23, 30, tzinfo=TAIPEI)
SUN_0300 = datetime(2024, 5, 5, 3, 0, tzinfo=TAIPEI)
SUN_1400 = datetime(2024, 5, 5, 14, 0, tzinfo=TAIPEI)


def _load_contacts() -> list[Contact] | None:
    for path in CONTACT_FILES:
        if path.exists():
            return [contact_from_record(r) for r in json.loads(path.read_text(encoding="utf-8"))]
    return None


CONTACTS = _load_contacts()
needs_contacts = pytest.mark.skipif(CONTACTS is None, reason="no contacts.json found")


def _by_id() -> dict[str, Contact]:
    assert CONTACTS is not None
    return {c.id: c for c in CONTACTS}


def _route(text: str, now: datetime = MON_0900) -> list[str]:
    hit = safety.check(text)
    assert hit is not None, text
    assert CONTACTS is not None
    return safety.referral_contacts(hit, CONTACTS, now)


# --------------------------------------------------------------------------- the check fires

# (message, language, a situation it must show)
VICTIM_MESSAGES = [
    # English, incl. second-language English and typos
    (
        "my friend is a caregiver, her employer took her passport and she has not been paid since january",
        "en",
        "documents_withheld",
    ),
    ("the agency keeps all of our ARC cards and wont give back, we are 4 girls", "en", "documents_withheld"),
    ("pls help me my agensi keep my pasport since i arrive taiwan", "en", "documents_withheld"),
    ("help, my emplyer lock me inside the house when they go out, i cant leave", "en", "locked_in"),
    ("the lady boss doesnt allow us to go outside even on sunday", "en", "locked_in"),
    ("boss not give salary 3 month already, i no money to eat", "en", "unpaid_wages"),
    ("no salery for 5 months, boss always say next month", "en", "unpaid_wages"),
    (
        "broker say i must pay 150000 placement fee, they cut from my salary every month, i have nothing left",
        "en",
        "debt_bondage",
    ),
    ("i owe the agent 200000 and he says i must work until i pay back everything", "en", "debt_bondage"),
    (
        "my employer said if i report to 1955 he will send me back to indonesia",
        "en",
        "threatened_deportation",
    ),
    ("employer threaten to report me as runaway if i ask for my salary", "en", "threatened_deportation"),
    ("My employer's mother slaps me every day", "en", "physical_abuse"),
    ("my boss hits me with a stick when i make mistake", "en", "physical_abuse"),
    (
        "my sister works in a massage shop, the boss force her to give sexual service to customers",
        "en",
        "forced_sex_work",
    ),
    ("the owner of the ktv makes the girls go with customers to hotel", "en", "forced_sex_work"),
    ("help my friend is forced to sell drugs by her boyfriend's gang", "en", "forced_criminality"),
    (
        "a man called, he said he is police officer and my bank account is involved in money laundering, he tells me go to the atm now",
        "en",
        "fraud_in_progress",
    ),
    (
        "someone from health insurance called, transfered me to a police officer who want me to move my savings to a supervised account",
        "en",
        "fraud_in_progress",
    ),
    ("my boyfriend choked me tonight and said he will kill me if i leave", "en", "domestic_violence"),
    ("im hiding in the bathroom, he is breaking the door", "en", "immediate_danger"),
    ("my employers son touches me at night and comes into my room", "en", "sexual_assault"),
    (
        "sir my cousin is in myanmar, the company took her phone and passport and she cannot leave, they hit her",
        "en",
        "held_abroad",
    ),
    ("my daughter went to dubai for a job, now they hold her and ask us to pay ransom", "en", "held_abroad"),
    ("captain never let us go ashore for 8 months and kicked my friend", "en", "forced_labour_at_sea"),
    ("agent take my passport", "en", "documents_withheld"),
    ("boss keeps our salary in his account and only gives 2000", "en", "unpaid_wages"),
    ("i was sold to a karaoke bar", "en", "forced_sex_work"),
    ("the police on the phone told me to buy game points now", "en", "fraud_in_progress"),
    # Traditional Chinese (and a Simplified one)
    ("我朋友在工廠上班，老闆扣著她的居留證，已經三個月沒領到薪水", "zh", "documents_withheld"),
    ("仲介說我欠他十萬仲介費，每個月從薪水扣，扣完只剩兩千", "zh", "debt_bondage"),
    ("我表妹在酒店上班，被逼陪客人睡覺，證件也被老闆拿走", "zh", "forced_sex_work"),
    ("剛剛有個自稱警察的人說我的帳戶被拿去洗錢，要我馬上去提款機轉帳", "zh", "fraud_in_progress"),
    ("我先生喝醉就打我，今天又掐我脖子", "zh", "domestic_violence"),
    ("我们老板把护照收走了，不让我们出门", "zh", "locked_in"),
    ("我兒子在緬甸被賣到詐騙園區，他們要贖金才放人", "zh", "held_abroad"),
    ("船長常常打我們，半年沒有上岸", "zh", "forced_labour_at_sea"),
    ("仲介一直恐嚇說要把我遣送回國", "zh", "threatened_deportation"),
    ("我被老闆打", "zh", "physical_abuse"),
    ("有人要我去ATM解除分期付款，他現在還在線上", "zh", "fraud_in_progress"),
    # Indonesian
    ("paspor saya dipegang agen, saya minta tidak dikasih", "id", "documents_withheld"),
    ("tolong mbak, majikan saya sering mukul saya pakai sapu", "id", "physical_abuse"),
    ("sudah 4 bulan gaji belum dibayar sama majikan, katanya nanti nanti terus", "id", "unpaid_wages"),
    ("teman saya disekap di kamar sama bos nya gak boleh kemana mana", "id", "locked_in"),
    (
        "agen bilang kalau saya lapor ke 1955 saya akan dipulangkan ke indonesia",
        "id",
        "threatened_deportation",
    ),
    ("saya dipaksa menemani tamu di ktv, kalau tidak mau gaji dipotong", "id", "forced_sex_work"),
    ("suami aku suka mukul dan ngancam bunuh aku", "id", "domestic_violence"),
    (
        "kapten kapal tidak boleh kami turun ke darat sudah 6 bulan, sering dipukul",
        "id",
        "forced_labour_at_sea",
    ),
    ("ada yang ngaku jaksa nyuruh saya transfer semua uang sekarang juga", "id", "fraud_in_progress"),
    ("majikan tidak kasih gaji 5 bulan", "id", "unpaid_wages"),
    ("paspor ditahan agensi", "id", "documents_withheld"),
    # Vietnamese, with and without diacritics
    ("chu giu ho chieu cua em khong tra, em xin may lan roi", "vi", "documents_withheld"),
    ("cong ty khong tra luong 3 thang roi, em khong co tien gui ve nha", "vi", "unpaid_wages"),
    ("chủ nhà nhốt em trong phòng, không cho ra ngoài", "vi", "locked_in"),
    ("ban em bi ep tiep khach o quan karaoke, bi giu giay to", "vi", "forced_sex_work"),
    ("chong toi say ruou roi danh toi, toi dang tron trong nha ve sinh", "vi", "immediate_danger"),
    ("môi giới bắt em trả phí môi giới cao quá, trừ vào lương mỗi tháng", "vi", "debt_bondage"),
    (
        "co nguoi xung la cong an goi dien bao em chuyen tien vao tai khoan an toan ngay bay gio",
        "vi",
        "fraud_in_progress",
    ),
    ("em bi chu danh, em so lam, em muon bo tron", "vi", "physical_abuse"),
    ("bọn em làm trên thuyền 10 tháng không được lên bờ", "vi", "forced_labour_at_sea"),
    # Thai
    ("นายจ้างไม่ให้ออกจากบ้าน ล็อคประตูทุกวัน", "th", "locked_in"),
    ("เพื่อนผมโดนซ้อมบนเรือประมง ไม่ให้ขึ้นฝั่ง", "th", "forced_labour_at_sea"),
    ("นายหน้าบอกว่าผมเป็นหนี้ค่าหัว ต้องทำงานใช้หนี้", "th", "debt_bondage"),
    ("สามีตีฉันทุกวัน ตอนนี้ฉันกลัวมาก", "th", "domestic_violence"),
    ("มีคนอ้างว่าเป็นตำรวจ ให้ฉันโอนเงินเข้าบัญชีปลอดภัยตอนนี้", "th", "fraud_in_progress"),
    ("นายจ้างขู่ว่าถ้าแจ้ง 1955 จะส่งกลับไทย", "th", "threatened_deportation"),
    ("ผมทำงานมาสี่เดือนแล้วยังไม่ได้รับเงินเดือนเลย", "th", "unpaid_wages"),
    # Tagalog / Taglish
    ("hawak ng agency ang passport ko ayaw ibigay", "tl", "documents_withheld"),
    ("binubugbog ako ng amo ko, tulungan nyo ako", "tl", "physical_abuse"),
    ("ilang buwan na walang sweldo ang pinsan ko", "tl", "unpaid_wages"),
    ("pinipilit kami ng amo na mag entertain ng customer sa bar", "tl", "forced_sex_work"),
    ("sabi ng broker ipapadeport daw ako kung magrereklamo ako", "tl", "threatened_deportation"),
    ("yung asawa ko sinasaktan ako araw araw", "tl", "domestic_violence"),
    ("bawal kaming lumabas ng dorm sabi ng agency", "tl", "locked_in"),
    ("hinihipuan ako ng anak ng amo ko gabi gabi", "tl", "sexual_assault"),
]


@pytest.mark.parametrize(("text", "lang", "situation"), VICTIM_MESSAGES)
def test_victim_message_fires_in_its_language(text: str, lang: str, situation: str) -> None:
    hit = safety.check(text)
    assert hit is not None, text
    assert situation in hit.situations, hit
    assert hit.lang == lang
    assert hit.matched


def test_every_language_has_at_least_three_messages_over_different_situations() -> None:
    for lang in safety.LANGS:
        situations = {s for _, lang_, s in VICTIM_MESSAGES if lang_ == lang}
        assert len(situations) >= 3, lang


# --------------------------------------------------------------------------- the check stays quiet

NOT_EMERGENCIES = [
    # news, reports, workshops, statistics
    "how many foreign victims of trafficking were rescued in 2022",
    "what did the TIP report say about employers keeping workers passports",
    "was there a workshop on forced labour in 2021",
    "tell me about the 2024 workshop on scam centers",
    "how many scam compounds are there in cambodia",
    "did the ministry sign an MOU with the philippines on trafficking",
    "i watched a movie about a girl forced into prostitution",
    "i'm writing an essay on domestic violence in taiwan",
    "the 2019 workshop talked about abuse of fishing crews",
    "what does the law say about debt bondage",
    # directory lookups and how-to questions
    "which number should i call for domestic violence",
    "where do i report a scam website",
    "what is the number of the anti fraud hotline",
    "how to report employer abuse",
    "how do i renew my passport",
    "can i hold two passports in taiwan",
    "do i need to keep my passport with me all the time",
    "i lost my ARC card, how do i get a new one",
    "how much is the broker fee normally for caregivers",
    "how to transfer money to indonesia",
    "i want to send money home today, which bank is open on sunday",
    "can i leave my job before the contract ends",
    "i want to leave taiwan next month, do i need an exit permit",
    "can the police keep my passport if i have an overstay",
    "my daughter is taiwanese and was detained by police in bali, which number do we call",
    # near misses: an indicator word in another sense
    "my bank account is locked, what should i do",
    "the typhoon hit us hard last night, is the MRT running",
    "i'm hiking in yangmingshan tomorrow, weather?",
    "i am in danger of losing my job if covid continues",
    "my dad hit the jackpot lol",
    "can i bring a kitchen knife in my luggage",
    "i have no money for a ticket home, can the ministry help",
    "we looked for the police station but couldn't find it",
    "my employee asked for a day off, is that allowed",
    # single words and contented workers
    "my passport",
    "salary",
    "boss",
    "1955",
    "police",
    "paspor",
    "gaji",
    "hộ chiếu",
    "護照",
    "薪水",
    "พาสปอร์ต",
    "sweldo",
    "my employer is kind and pays on time",
    "majikan saya baik",
    "chủ em tốt lắm",
    "老闆人很好",
    "นายจ้างใจดี",
    "mabait ang amo ko",
    "what is the best karaoke bar in taipei",
    "my sister is visiting from laos next week",
    "berita terbaru tentang perdagangan orang",
    "人口販運最新新聞",
    "ข่าวการค้ามนุษย์ล่าสุด",
    # chit-chat
    "hello",
    "thanks!!",
    "tell me a joke",
    "👍",
    "?",
    # other languages
    "護照過期怎麼辦",
    "家暴專線是幾號",
    "2019年有多少人口販運被害人",
    "移工仲介費一般多少錢",
    "颱風天不能出門要怎麼辦",
    "今天打工很累",
    "cara perpanjang paspor di KDEI",
    "jam berapa kantor imigrasi buka, pukul 8?",
    "berapa gaji minimum di taiwan",
    "harga tiket pesawat ke jakarta berapa ya",
    "làm sao gia hạn hộ chiếu",
    "cach chuyen tien ve Viet Nam nhanh nhat",
    "tết này em không về được, buồn quá",
    "cảm ơn anh nhiều",
    "ต่ออายุพาสปอร์ตที่ไหน",
    "ทะเลาะกับเพื่อนร่วมงาน ทำยังไงดี",
    "ซ้อมอพยพแผ่นดินไหวปีนี้วันไหน",
    "paano mag renew ng passport",
    "magkano ang sweldo ng caregiver sa taiwan",
    "libre po ba ang tawag sa 1955",
    "ano po ang hotline para sa mga OFW kung may reklamo sa broker",
]


@pytest.mark.parametrize("text", NOT_EMERGENCIES)
def test_questions_about_a_topic_do_not_fire(text: str) -> None:
    assert safety.check(text) is None


def test_check_never_raises_and_ignores_junk() -> None:
    rng = random.Random(7)
    alphabet = "abc ก่าข้ 護照 ơư\u200b\u202e\ud800\x00\n\t🙂*$@\\[](){}|^.+?"
    samples = ["", " ", "\x00", "*" * 50, "$neg", "@me", "a" * 100_000, "護" * 10_000]
    samples += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 300))) for _ in range(300)]
    for text in samples:
        hit = safety.check(text)
        assert hit is None or hit.situations
    assert safety.check(None) is None  # type: ignore[arg-type]


def test_check_is_fast() -> None:
    messages = [m for m, _, _ in VICTIM_MESSAGES] + NOT_EMERGENCIES
    safety.check("warm up")
    start = time.perf_counter()
    for _ in range(3):
        for message in messages:
            safety.check(message)
    per_check_ms = (time.perf_counter() - start) * 1000 / (3 * len(messages))
    assert per_check_ms < 3, per_check_ms  # typically well under 1 ms; generous for a busy CI machine


# --------------------------------------------------------------------------- routing


@needs_contacts
def test_danger_puts_police_first() -> None:
    assert _route("THERE IS A MAN WITH A KNIFE OUTSIDE MY DOOR, HE IS SCREAMING HE WILL KILL ME")[0] == "c03"
    assert _route("help, my emplyer lock me inside the house, i cant leave")[0] == "c03"


@needs_contacts
def test_fraud_in_progress_puts_165_then_110() -> None:
    assert _route(
        "a man says he is a prosecutor, I must move my money to a safe account now, he is on the line"
    )[:2] == ["c09", "c03"]


@needs_contacts
def test_someone_held_abroad_puts_mofa_then_110() -> None:
    assert _route("my brother is held in a scam compound in cambodia, they beat him and took his passport")[
        :2
    ] == ["c15", "c03"]


@needs_contacts
def test_domestic_violence_lists_113_and_110() -> None:
    ids = _route("my husband beats me every day and takes my phone")
    assert ids[0] == "c05" and "c03" in ids[:2]
    assert _route("我老公又打我，我現在躲在房間裡不敢出去")[:2] == ["c03", "c05"]  # hiding now: police first


@needs_contacts
def test_labour_situations_put_the_foreign_workers_line_first() -> None:
    for text in (
        "the broker confiscated my residence permit",
        "no salary for 5 months, boss always say next month",
    ):
        ids = _route(text)
        assert ids[0] == "c06" and "c11" in ids[:3]


@needs_contacts
@pytest.mark.parametrize("now", [MON_0300, MON_0900, MON_2330, SUN_0300, SUN_1400])
def test_no_office_hours_or_unverified_line_comes_before_a_24h_line(now: datetime) -> None:
    by_id = _by_id()
    office = replace(by_id["c06"], hours="9 a.m. to 5 p.m., Monday-Friday")
    contacts = [office if c.id == "c06" else c for c in CONTACTS or ()]
    ids = safety.referral_contacts(safety.check("my boss keeps my passport and ARC"), contacts, now)
    first = next(c for c in contacts if c.id == ids[0])
    assert hours.is_24h(first)
    if hours.open_now(office, now) is False:
        assert ids[-1] == "c06"  # closed now: last


# --------------------------------------------------------------------------- hours


@needs_contacts
def test_hours_of_real_contacts_at_fixed_times() -> None:
    by_id = _by_id()
    hotline_1996, police, nia, residents = by_id["c01"], by_id["c03"], by_id["c11"], by_id["c07"]
    assert [hours.open_now(hotline_1996, t) for t in (MON_0300, MON_0900, MON_2330, SUN_1400)] == [
        False,
        True,
        False,
        True,
    ]
    assert hours.next_opening(hotline_1996, MON_2330) == datetime(2024, 5, 7, 8, 0, tzinfo=TAIPEI)
    assert hours.is_24h(police) and hours.open_now(police, SUN_0300) is True
    assert hours.open_now(nia, MON_0900) is None and not hours.is_24h(nia)  # "Not verified"
    assert hours.is_24h(residents) and not hours.is_24h(residents, "vi")
    assert hours.open_now(residents, SUN_1400, "vi") is False  # weekdays only
    assert hours.open_now(residents, MON_0900, "vi") is None  # "8 hours a day": which hours is not stated
    assert hours.languages_open_now(residents, SUN_0300) == ["zh", "en", "ja"]
    assert hours.languages_open_now(nia, MON_0900) == []


def _contact(hours_text: str, languages: tuple[str, ...] = ("Mandarin",)) -> Contact:
    return Contact(id="t1", name="Test line", phone="1234", hours=hours_text, languages=languages)


@pytest.mark.parametrize(
    ("text", "now", "expected"),
    [
        ("24 hours", MON_0300, True),
        ("24/7, free of charge", SUN_0300, True),
        ("8 a.m. to 10 p.m., every day of the year", MON_0900, True),
        ("8 a.m. to 10 p.m., every day of the year", MON_2330, False),
        ("9 a.m. to 5:30 p.m., Monday-Friday", SUN_1400, False),
        ("9 a.m. to 5:30 p.m., Monday-Friday", MON_0900, True),
        ("Mon-Fri 09:00-17:00", MON_0300, False),
        ("10 p.m. to 6 a.m., every day", MON_0300, True),  # overnight window
        ("Not verified", MON_0900, None),
        ("Historically: Mandarin 24 hours", MON_0900, None),
        ("Weekday office hours", MON_0900, None),
        ("Weekday office hours", SUN_1400, False),
        ("call us anytime you like", MON_0900, None),
        ("", MON_0900, None),
    ],
)
def test_open_now_reads_hours_text(text: str, now: datetime, expected: bool | None) -> None:
    assert hours.open_now(_contact(text), now) is expected


def test_unverified_hours_are_never_24h_and_naive_times_are_taipei() -> None:
    assert not hours.is_24h(_contact("Not verified (24 hours claimed by a blog)"))
    naive = datetime(2024, 5, 6, 23, 30)
    assert hours.open_now(_contact("8 a.m. to 10 p.m., every day"), naive) is False


def test_served_languages_skip_hedged_entries() -> None:
    assert hours.served_languages(_contact("24 hours", ("Mandarin (not confirmed)",))) == []
    assert hours.served_languages(_contact("24 hours", ("Mandarin (other languages not confirmed)",))) == [
        "zh"
    ]
    assert hours.served_languages(_contact("24 hours", ("Filipino (Tagalog)", "Cambodian (Khmer)"))) == [
        "tl",
        "km",
    ]


# --------------------------------------------------------------------------- /hotline directory


@needs_contacts
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("passport", ["c06", "c11"]),
        ("護照", ["c06", "c11"]),
        ("hộ chiếu", ["c06", "c11"]),
        ("vietnamese", ["c05", "c06", "c07"]),
        ("tiếng việt", ["c05", "c06", "c07"]),
        ("fraud", ["c09"]),
        ("詐騙", ["c09"]),
        ("1990", ["c07"]),
        ("/hotline 165", ["c09"]),
        ("0800-024-111", ["c08"]),
    ],
)
def test_find_hotlines(query: str, expected: list[str]) -> None:
    assert [c.id for c in safety.find_hotlines(query, CONTACTS or [], MON_0300)] == expected


@needs_contacts
def test_find_hotlines_default_starts_with_emergency_lines_and_hides_legacy_number() -> None:
    ids = [c.id for c in safety.find_hotlines("", CONTACTS or [], MON_0300)]
    assert ids[:2] == ["c03", "c04"] and "c08" not in ids
    assert "c08" not in [c.id for c in safety.find_hotlines("vietnamese", CONTACTS or [], MON_0300)]


# --------------------------------------------------------------------------- the card


@needs_contacts
def test_card_in_the_writers_language_with_plain_numbers() -> None:
    text = "chủ giữ hộ chiếu của em và không trả lương"
    hit = safety.check(text)
    ids = safety.referral_contacts(hit, CONTACTS or [], MON_0300)
    card = referral.format_referral_card(hit, ids, _by_id(), MON_0300)
    assert card.startswith("<b>Bạn không đơn độc")
    assert "1955 — " in card and "(02) 2388-3095 — " in card  # plain text: Telegram makes it tappable
    assert "tel:" not in card and "<a " not in card
    assert "giờ làm việc chưa được xác minh" in card  # the NIA line's hours are not verified
    assert len(card) <= referral.MAX_CARD_CHARS


@needs_contacts
def test_card_claims_only_what_contacts_json_says() -> None:
    by_id = _by_id()
    hit = safety.SafetyHit(("held_abroad",), "en", ())
    card = referral.format_referral_card(hit, ["c15", "c11", "c06", "c01"], by_id, MON_2330)
    mofa, nia, workers, moi = card.split("\n\n")[2:6]
    assert "Languages not verified" in mofa  # "Mandarin (not confirmed)"
    assert "hours not verified" in nia and "24 h" not in nia
    assert "free call" in workers and "free" not in nia  # only where the hours text says so
    assert "closed now, opens Tue at 08:00" in moi
    assert "confidential" not in card.casefold()


def test_card_escapes_data_and_falls_back_to_english() -> None:
    evil = Contact(
        id="x1",
        name="<script>alert(1)</script>",
        phone="<b>999</b>",
        hours="24 hours",
        languages=("English",),
    )
    hit = safety.SafetyHit(("immediate_danger",), "xx", ())
    card = referral.format_referral_card(hit, ["x1"], {"x1": evil}, MON_0900)
    assert "<script>" not in card and "&lt;script&gt;" in card and "&lt;b&gt;999&lt;/b&gt;" in card
    assert card.startswith("<b>You are not alone")
    assert referral.clear_button_label("zh-TW") == "清除這段對話"


@needs_contacts
@pytest.mark.parametrize("lang", safety.LANGS)
def test_every_language_renders_a_short_card(lang: str) -> None:
    hit = safety.SafetyHit(tuple(safety.default_lexicon().order), lang, ())
    ids = safety.referral_contacts(hit, CONTACTS or [], MON_0300)
    card = referral.format_referral_card(hit, ids, _by_id(), MON_0300)
    assert len(card) <= referral.MAX_CARD_CHARS
    assert referral.card_texts(lang)["heading"] in card


# --------------------------------------------------------------------------- the data files agree


def test_data_files_are_consistent() -> None:
    lexicon = safety.default_lexicon()
    situations = set(lexicon.order)
    for lang in lexicon.languages:
        assert set(lang.groups) <= situations, lang.code
    for code in safety.LANGS:
        texts = referral.card_texts(code)
        assert set(texts["situations"]) == situations, code
        assert set(texts["contacts"]) == set(referral.card_texts("en")["contacts"]), code
        assert all("{phone}" in line for line in texts["situations"].values()), code
    if CONTACTS is not None:
        refs = {
            ref
            for rule in lexicon.routing["situations"].values()
            for ref in [
                *rule["contacts"],
                *rule.get("also", ()),
                *(r for v in rule.get("when", {}).values() for r in v),
            ]
        }
        assert all(safety.resolve_contact(ref, CONTACTS) for ref in refs)
        assert all(safety.resolve_contact(phone, CONTACTS) for phone in referral.card_texts("en")["contacts"])


# --------------------------------------------------------------------------- the dev question set


def _dev_questions() -> list[dict]:
    if not DEV_QUESTIONS.exists():
        return []
    return [
        json.loads(line) for line in DEV_QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


@pytest.mark.skipif(not DEV_QUESTIONS.exists() or CONTACTS is None, reason="../shared eval set not present")
def test_dev_set_every_safety_question_caught_with_a_right_number_in_the_first_three() -> None:
    missed = []
    safety_questions = [q for q in _dev_questions() if q["kind"] == "safety"]
    for q in safety_questions:
        hit = safety.check(q["q"])
        ids = safety.referral_contacts(hit, CONTACTS or [], MON_0900) if hit else []
        if not set(q["expect"]) & set(ids[:3]):
            missed.append((q["id"], q["q"], ids))
    assert safety_questions and not missed


@pytest.mark.skipif(not DEV_QUESTIONS.exists(), reason="../shared eval set not present")
def test_dev_set_no_false_alarm_on_other_kinds() -> None:
    # A false alarm is a full referral card; a one-line note under an answer is not.
    hits = [(q, safety.check(q["q"])) for q in _dev_questions() if q["kind"] != "safety"]
    alarms = [(q["id"], q["q"]) for q, hit in hits if hit is not None and hit.level == "referral"]
    assert not alarms
