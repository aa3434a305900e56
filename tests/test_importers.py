"""`python -m bot import SOURCE`: the ministry's blog page (saved text and HTML), list pages, RSS and Atom
feeds served by a real HTTP server on 127.0.0.1, JSON and CSV; de-duplication, provenance, and the
staff commands `posts` and `contacts`. The CLI runs as its own process, on a real store in a tmp folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import BUNDLED_STORE
from bot.importers import SourceError, detect_format
from bot.store import PostStore
from tests.feedserver import FeedServer, Route, atom, item, rss

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SEED_TXT, SEED_HTML = FIXTURES / "moi-blog-sn193.txt", FIXTURES / "moi-blog-sn193.html"
SEED_TITLE = ("Overseas scholars and specialists gathered at the workshop Hsu Kuo-yung: zero time difference is the "
              "wish for cross-border cooperation in combating human trafficking")
SEED_URL = "https://www.moi.gov.tw/english/english_moi_note/e_moi_note_detail.aspx?sn=193"
CAPTION = "Vice President Chen Chien-jen (6 from right), Minister of the Interior Hsu Kuo-yung (6 from left)"
SHARED_POSTS = ROOT.parent / "shared" / "corpus" / "posts.json"


def cli(*args: str, store: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "BOT_"))}
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**env, "BOT_DB_PATH": str(store)})


@pytest.fixture
def empty_store(tmp_path: Path) -> Path:
    path = tmp_path / "store.json"
    PostStore(path, create=True).close()
    return path


@pytest.fixture
def server():
    srv = FeedServer().start()
    yield srv
    srv.stop()


def posts_of(path: Path):
    store = PostStore(path)
    try:
        return store.posts()
    finally:
        store.close()


# -- the seed page -----------------------------------------------------------------------------

def assert_clean_seed(post) -> None:
    assert post.date == "2018-09-17"
    assert post.title == SEED_TITLE
    assert post.body.startswith("The Ministry of the Interior held the two-day")
    assert "zero time difference" in post.body and "4P strategy" in post.body
    for noise in ("Link to Content Area", "Search the Site", "Filter by post date", "2019 (54)", "2013 (3)",
                  "Print", "Back to list", "Interior Affairs(open new website)", "Xuzhou Rd", "Best viewed with IE",
                  "1996 Hotline"):
        assert noise not in post.body, noise
    assert post.body.count(CAPTION) == 1  # the page prints the photo caption twice in one line
    assert post.category == "workshop"


def test_the_seed_page_imports_to_exactly_one_clean_post(empty_store):
    result = cli("import", str(SEED_TXT), store=empty_store)
    assert result.returncode == 0, result.stderr
    assert "blog: 1 posts and 0 contacts read: 1 added, 0 updated, 0 unchanged, 0 rejected" in result.stdout
    [post] = posts_of(empty_store)
    assert_clean_seed(post)
    assert post.source == "blog page moi-blog-sn193.txt" and post.imported_at and post.updated_at


def test_the_seed_page_as_html_is_the_same_post_with_its_address(empty_store):
    result = cli("import", str(SEED_HTML), store=empty_store)
    assert result.returncode == 0, result.stderr
    [post] = posts_of(empty_store)
    assert_clean_seed(post)
    assert post.url == SEED_URL  # from <link rel="canonical">: the answer's Read more link
    again = cli("import", str(SEED_TXT), store=empty_store)  # the same post as text: same id, nothing new
    assert "0 added, 0 updated, 1 unchanged" in again.stdout
    assert [p.id for p in posts_of(empty_store)] == [post.id]


def test_the_seed_page_into_the_bundled_store_is_post_p055_not_a_new_one(tmp_path):
    store = tmp_path / "store.json"
    shutil.copy(BUNDLED_STORE, store)
    result = cli("import", str(SEED_TXT), store=store)
    assert "0 added, 0 updated, 1 unchanged" in result.stdout, result.stdout + result.stderr
    posts = posts_of(store)
    assert len(posts) == 131 and sum(p.date == "2018-09-17" for p in posts) == 1


def test_a_file_with_no_known_format_is_one_line_and_exit_2(empty_store, tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 8)
    result = cli("import", str(junk), store=empty_store)
    assert result.returncode == 2 and "cannot tell the format" in result.stderr
    assert result.stderr.strip().count("\n") == 0


# -- feeds from a local HTTP server -------------------------------------------------------------

def test_an_rss_feed_imports_with_provenance_and_twice_is_no_duplicate(empty_store, server):
    items = [item(n) for n in range(1, 6)]
    server.routes["/rss"] = Route(rss(items))
    url = server.url("/rss")
    first = cli("import", url, store=empty_store)
    assert first.returncode == 0, first.stderr
    assert "rss: 5 posts and 0 contacts read: 5 added, 0 updated, 0 unchanged, 0 rejected" in first.stdout
    posts = {p.url: p for p in posts_of(empty_store)}
    post = posts[items[0]["link"]]
    assert post.title == items[0]["title"] and post.date == "2026-11-01"  # 08:00 UTC is 16:00 in Taipei
    assert post.body == ("The Ministry of the Interior said on item 1 that cooperation goes on.\n\n"
                         "Second paragraph of item 1.")
    assert post.source == "feed MOI English news" and post.source_url == url
    assert post.imported_at and post.updated_at and post.category == "cooperation"
    second = cli("import", url, store=empty_store)
    assert "0 added, 0 updated, 5 unchanged" in second.stdout
    assert len(posts_of(empty_store)) == 5
    assert all("moi-assistant" in s.user_agent for s in server.seen)


def test_an_atom_feed_imports(empty_store, server):
    server.routes["/atom"] = Route(atom([item(n) for n in range(1, 4)]), content_type="application/atom+xml")
    result = cli("import", server.url("/atom"), store=empty_store)
    assert result.returncode == 0, result.stderr
    assert "atom: 3 posts and 0 contacts read: 3 added" in result.stdout
    assert {p.date for p in posts_of(empty_store)} == {"2026-11-01"}


def test_a_feed_whose_item_changed_updates_it_and_keeps_its_id(empty_store, server):
    items = [item(1), item(2)]
    server.routes["/rss"] = Route(rss(items))
    cli("import", server.url("/rss"), store=empty_store)
    before = {p.url: p for p in posts_of(empty_store)}
    items[0] = {**items[0], "body": "<p>A corrected text of the first item.</p>"}
    server.routes["/rss"] = Route(rss(items))
    result = cli("import", server.url("/rss"), store=empty_store)
    assert "0 added, 1 updated, 1 unchanged" in result.stdout, result.stdout + result.stderr
    after = {p.url: p for p in posts_of(empty_store)}
    changed = after[items[0]["link"]]
    assert changed.id == before[items[0]["link"]].id and changed.body == "A corrected text of the first item."
    assert changed.imported_at == before[items[0]["link"]].imported_at
    assert changed.updated_at >= before[items[0]["link"]].updated_at
    assert len(after) == 2


def test_an_item_without_a_link_is_matched_by_date_and_a_near_identical_title(empty_store, server):
    day = datetime(2026, 10, 20, 2, 0, tzinfo=UTC)
    first = item(1, day=day, link="", title="Minister Liu meets the delegation of Eswatini on immigration")
    server.routes["/rss"] = Route(rss([first]))
    cli("import", server.url("/rss"), store=empty_store)
    [post] = posts_of(empty_store)
    retitled = {**first, "title": "Minister Liu meets the delegation of Eswatini on immigration.",
                "body": "<p>Updated text.</p>"}
    other = item(2, day=day, link="", title="Minister Liu meets the delegation of Eswatini on immigration 2")
    server.routes["/rss"] = Route(rss([retitled, other]))
    result = cli("import", server.url("/rss"), store=empty_store)
    assert "1 added, 1 updated" in result.stdout, result.stdout + result.stderr  # other numbers: another post
    found = {p.id: p for p in posts_of(empty_store)}
    assert found[post.id].body == "Updated text." and len(found) == 2


def test_a_feed_update_without_translations_keeps_the_stored_ones(tmp_path, server):
    store = tmp_path / "store.json"
    shutil.copy(BUNDLED_STORE, store)
    p016 = PostStore(store).post("p016")
    assert p016.i18n and p016.url
    changed = item(1, day=datetime.fromisoformat(p016.date + "T02:00:00+00:00"), title=p016.title, link=p016.url,
                   body="<p>The ministry published a longer text of this agreement today.</p>")
    server.routes["/rss"] = Route(rss([changed]))
    result = cli("import", server.url("/rss"), store=store)
    assert "0 added, 1 updated" in result.stdout, result.stdout + result.stderr
    after = PostStore(store).post("p016")
    assert after.body == "The ministry published a longer text of this agreement today."
    assert after.i18n == p016.i18n and after.tags == p016.tags and after.category == p016.category
    assert after.source_url == server.url("/rss") and after.source == "feed MOI English news"


def test_a_feed_of_5000_items_shows_progress_and_imports_them_all(empty_store, server):
    server.routes["/big"] = Route(rss([item(n) for n in range(1, 5001)]))
    result = cli("import", server.url("/big"), store=empty_store, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "5000 added" in result.stdout
    assert "5000/5000" in result.stderr  # the progress bar (tqdm on stderr); its speed: benchmarks/bench_import.py
    assert len(posts_of(empty_store)) == 5000


def test_a_feed_that_never_answers_times_out_and_leaves_the_store_as_it_was(empty_store, server):
    server.routes["/slow"] = Route(hang=True)
    before = empty_store.read_bytes()
    result = cli("import", server.url("/slow"), "--timeout", "1", store=empty_store)
    assert result.returncode == 2 and "timed out" in result.stderr
    assert empty_store.read_bytes() == before


def test_an_html_page_where_a_feed_was_expected_is_refused(empty_store, server):
    server.routes["/rss"] = Route("<!DOCTYPE html><html><body><h1>Service temporarily unavailable</h1></body></html>",
                                  content_type="text/html")
    result = cli("import", server.url("/rss"), "--format", "rss", store=empty_store)
    assert result.returncode == 2 and "an HTML page where an RSS or Atom feed was expected" in result.stderr
    unknown = cli("import", server.url("/rss"), store=empty_store)  # read as a page: no post in it either
    assert unknown.returncode == 2 and "not a page of the ministry's blog" in unknown.stderr
    assert posts_of(empty_store) == []


def test_a_list_page_is_followed_one_request_at_a_time_with_a_delay(empty_store, server):
    page = SEED_HTML.read_text(encoding="utf-8")
    links = []
    for n in (193, 194, 195):
        path = f"/english/english_moi_note/e_moi_note_detail.aspx?sn={n}"
        body = page.replace("sn=193", f"sn={n}").replace("2018-09-17 09:00", f"2018-09-{n - 176:02d} 09:00")
        server.routes[path] = Route(body.replace("Overseas scholars", f"Post {n}: overseas scholars"),
                                    content_type="text/html")
        links.append(f'<li><span>2018-09-{n - 176:02d}</span> <a href="{path}">Post {n}: a title long enough</a></li>')
    server.routes["/list"] = Route("<!DOCTYPE html><html><body><nav><a href='/english/'>Home</a></nav>"
                                   f"<ul class='list'>{''.join(links)}</ul></body></html>", content_type="text/html")
    result = cli("import", server.url("/list"), "--delay", "0.3", store=empty_store)
    assert result.returncode == 0, result.stderr
    assert "list: 3 posts and 0 contacts read: 3 added" in result.stdout
    posts = sorted(posts_of(empty_store), key=lambda p: p.date)
    assert [p.date for p in posts] == ["2018-09-17", "2018-09-18", "2018-09-19"]
    assert posts[1].url == SEED_URL.replace("sn=193", "sn=194")  # the page's canonical address
    assert posts[1].source_url == server.url("/list")
    pages = [s for s in server.seen if "detail" in s.path]
    assert server.max_concurrent == 1 and len(pages) == 3
    assert all(b.started - a.ended >= 0.25 for a, b in zip(pages, pages[1:], strict=False))  # a pause between
    assert all("moi-assistant" in s.user_agent for s in server.seen)


# -- JSON and CSV ------------------------------------------------------------------------------

@pytest.mark.skipif(not SHARED_POSTS.exists(), reason="../shared/corpus is not beside this checkout")
def test_json_in_the_shape_of_the_shared_corpus_imports(empty_store):
    result = cli("import", str(SHARED_POSTS), store=empty_store)
    assert result.returncode == 0, result.stderr
    assert "json: 131 posts and 0 contacts read: 131 added" in result.stdout


def test_csv_with_a_bad_row_rejects_it_by_line_and_imports_the_rest(empty_store, tmp_path):
    source = tmp_path / "news.csv"
    source.write_text(
        "title,date,category,body,url,tags,title.zh-TW\n"
        "Hotline week,2026-10-01,announcement,\"The 1996 hotline\nadds evening hours.\",https://www.moi.gov.tw/a,"
        "1996|hotline,1996專線週\n"
        "Broken row,01/10/2026,news,No ISO date here.,,,\n"
        "Workshop on brokers,2026/10/03,,A workshop on broker fees.,,,\n", encoding="utf-8")
    result = cli("import", str(source), store=empty_store)
    assert result.returncode == 1
    assert "csv: 3 posts and 0 contacts read: 2 added, 0 updated, 0 unchanged, 1 rejected" in result.stdout
    assert "rejected: line 4: field 'date' must be an ISO date" in result.stderr  # row 2 spans lines 2-3
    posts = {p.title: p for p in posts_of(empty_store)}
    assert posts["Hotline week"].tags == ("1996", "hotline") and posts["Hotline week"].text("zh", "title") == "1996專線週"
    assert posts["Hotline week"].body == "The 1996 hotline\nadds evening hours."
    assert posts["Workshop on brokers"].date == "2026-10-03" and posts["Workshop on brokers"].category == "workshop"


def test_export_then_import_is_lossless_translations_and_provenance_included(tmp_path):
    source = tmp_path / "store.json"
    shutil.copy(BUNDLED_STORE, source)
    first = tmp_path / "export.json"
    assert cli("posts", "export", "--contacts", "--out", str(first), store=source).returncode == 0
    target = tmp_path / "new.json"
    PostStore(target, create=True).close()
    result = cli("import", str(first), store=target)
    assert "131 posts and 15 contacts read: 146 added" in result.stdout, result.stdout + result.stderr
    second = tmp_path / "again.json"
    cli("posts", "export", "--contacts", "--out", str(second), store=target)
    a, b = json.loads(first.read_text(encoding="utf-8")), json.loads(second.read_text(encoding="utf-8"))
    assert sorted(a, key=lambda r: r["id"]) == sorted(b, key=lambda r: r["id"])
    assert any(r.get("i18n") for r in a) and all("imported_at" in r for r in a if "body" in r)
    again = cli("import", str(first), store=target)
    assert "0 added, 0 updated, 146 unchanged" in again.stdout


# -- staff commands on the store ----------------------------------------------------------------

def test_posts_show_edit_delete_and_contacts_show_edit(tmp_path):
    store = tmp_path / "store.json"
    shutil.copy(BUNDLED_STORE, store)
    shown = cli("posts", "show", "p016", store=store).stdout
    assert "source:" in shown and "imported_at:" in shown and "zh-TW.title:" in shown
    edited = cli("posts", "edit", "p016", "--title", "A corrected title", "--set", "vi=", "--set", "th.summary=", store=store)
    assert edited.returncode == 0, edited.stderr
    post = PostStore(store).post("p016")
    assert post.title == "A corrected title" and "vi" not in post.i18n and "zh-TW" in post.i18n
    assert "summary" not in post.i18n["th"] and post.i18n["th"]["title"]
    bad = cli("posts", "edit", "p016", "--date", "yesterday", store=store)
    assert bad.returncode == 1 and "'date'" in bad.stderr
    assert cli("posts", "delete", "p016", "--yes", store=store).returncode == 0
    assert PostStore(store).post("p016") is None
    listing = cli("posts", "list", "--limit", "2", store=store).stdout
    assert "2 of 130 post(s)" in listing
    contact = cli("contacts", "show", "c01", store=store).stdout
    assert "notes:" in contact and "staff only" in contact and "url:" in contact
    assert cli("contacts", "edit", "c01", "--hours", "24 hours", store=store).returncode == 0
    assert PostStore(store).contact("c01").hours == "24 hours"


# -- format detection ---------------------------------------------------------------------------

@pytest.mark.parametrize("data, fmt", [
    (b'[{"id": "p1"}]', "json"),
    (b'\xef\xbb\xbf<?xml version="1.0"?>\n<rss version="2.0"><channel></channel></rss>', "rss"),
    (b'<?xml version="1.0"?><!-- x --><feed xmlns="http://www.w3.org/2005/Atom"></feed>', "atom"),
    (b"title,date,body\nA,2026-01-01,B\n", "csv"),
    (SEED_TXT.read_bytes(), "blog"),
    (SEED_HTML.read_bytes(), "blog"),
])
def test_the_format_is_read_from_the_content(data, fmt):
    assert detect_format(data) == fmt


def test_other_xml_is_not_a_feed():
    with pytest.raises(SourceError, match="neither RSS nor Atom"):
        detect_format(b"<?xml version='1.0'?><sitemap/>")


def test_the_importers_and_the_refresh_import_no_telegram():
    code = "import sys, bot.importers, bot.feeds, bot.admin; sys.exit('telegram' in sys.modules or 'handlers' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=60).returncode == 0


def test_a_json_import_without_translations_keeps_them_and_one_with_them_replaces_them(tmp_path):
    import asyncio

    from bot.importers import import_batch, load

    store_path = tmp_path / "store.json"
    shutil.copy(BUNDLED_STORE, store_path)
    store = PostStore(store_path)
    old = store.post("p016")
    record = {**old.to_record(), "body": old.body + " A sentence added later."}
    del record["i18n"]
    source = tmp_path / "p016.json"
    source.write_text(json.dumps([record]), encoding="utf-8")
    report, _ = import_batch(store, asyncio.run(load(str(source))))
    assert (report.updated, report.added) == (1, 0)
    assert store.post("p016").i18n == old.i18n and store.post("p016").body.endswith("added later.")
    record["i18n"] = {"zh-TW": {"title": "新標題"}}
    source.write_text(json.dumps([record]), encoding="utf-8")
    import_batch(store, asyncio.run(load(str(source))))
    assert store.post("p016").i18n == {"zh-TW": {"title": "新標題"}}
    store.close()


def test_a_page_in_another_layout_is_read_from_its_article_and_metadata(empty_store, tmp_path):
    page = tmp_path / "news.html"
    page.write_text(
        '<!DOCTYPE html><html><head><title>MOI</title>'
        '<meta property="article:published_time" content="2026-10-02T09:00:00+08:00">'
        '<link rel="canonical" href="https://www.moi.gov.tw/News_Content.aspx?n=2&amp;s=1"></head><body>'
        '<nav><a href="/">Home</a> <a href="/en">English</a></nav><main><article>'
        "<h1>Interior minister visits the National Immigration Agency's service center</h1>"
        '<p class="meta">Posted 2026-10-02</p><p>The minister thanked the staff.</p>'
        '<p>He also met migrant workers.</p></article></main><footer>Address: No.5, Xuzhou Rd.</footer></body></html>',
        encoding="utf-8")
    result = cli("import", str(page), store=empty_store)
    assert result.returncode == 0, result.stderr
    [post] = posts_of(empty_store)
    assert (post.date, post.url) == ("2026-10-02", "https://www.moi.gov.tw/News_Content.aspx?n=2&s=1")
    assert post.title.startswith("Interior minister visits")
    assert post.body == "The minister thanked the staff.\n\nHe also met migrant workers."
