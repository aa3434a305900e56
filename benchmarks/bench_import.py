"""How fast the news importers are: a 5,000-item RSS feed served on 127.0.0.1, imported into an empty
store (items/s, with where the time goes), and a scheduled refresh that finds nothing new (the server
answers 304 to the bot's conditional request, or, without ETags, the feed is read again and every item
compared). Prints numbers; asserts nothing.

    .venv/bin/python benchmarks/bench_import.py [--items 5000] [--runs 3] [--parsers]

--parsers also times the HTML parsers considered for the blog pages and feed summaries (selectolax,
BeautifulSoup with html.parser and lxml, when installed).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from bot.feeds import FeedRefresher  # noqa: E402
from bot.importers import import_batch, parse_document  # noqa: E402
from bot.importers.fetch import fetch  # noqa: E402
from bot.opstore import SQLiteOperationalStore  # noqa: E402
from bot.store import PostStore  # noqa: E402
from tests.feedserver import FeedServer, Route, item, rss  # noqa: E402


def median(values: list[float]) -> float:
    return statistics.median(values)


async def one_import(url: str, folder: Path) -> dict:
    path = folder / f"store-{time.monotonic_ns()}.json"
    store = PostStore(path, create=True)
    t0 = time.perf_counter()
    fetched = await fetch(url)
    t1 = time.perf_counter()
    batch = parse_document(fetched.body, "rss", name=url, url=url, content_type=fetched.content_type)
    t2 = time.perf_counter()
    report, _ = import_batch(store, batch)
    t3 = time.perf_counter()
    store.close()
    assert report.added == len(batch.posts), report
    return {"fetch": t1 - t0, "parse": t2 - t1, "store": t3 - t2, "total": t3 - t0, "n": report.added}


async def refresh_nothing_new(url: str, folder: Path, runs: int) -> list[float]:
    """Import once, then time refresh runs that find nothing new."""
    store_path = folder / f"refresh-{time.monotonic_ns()}.json"
    store = PostStore(store_path, create=True)
    ops = SQLiteOperationalStore(folder / f"refresh-{time.monotonic_ns()}.sqlite3")
    settings = replace(Settings(db_path=store_path), feed_urls=(url,), feed_interval_s=3600, feed_timeout_s=60)
    refresher = FeedRefresher(store, ops, settings)
    [first] = await refresher.refresh(force=True)
    assert first.status == "ok", first
    times = []
    for _ in range(runs):
        version = store.version
        t0 = time.perf_counter()
        [run] = await refresher.refresh(force=True)
        times.append(time.perf_counter() - t0)
        assert run.status in ("ok", "not_modified") and not run.added_ids and not run.updated, run
        assert store.version == version  # nothing written
    ops.close()
    store.close()
    return times, run.status


def cli_import(url: str, folder: Path) -> float:
    path = folder / f"cli-{time.monotonic_ns()}.json"
    PostStore(path, create=True).close()
    t0 = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "bot", "import", url, "--quiet"], cwd=ROOT, capture_output=True,
                            text=True, env={"BOT_DB_PATH": str(path), "PATH": "/usr/bin:/bin"}, timeout=600)
    elapsed = time.perf_counter() - t0
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    return elapsed


def parsers(items: int) -> None:
    from bot.importers.html import fragment_text, parse_page

    page = (ROOT / "tests" / "fixtures" / "moi-blog-sn193.html").read_text(encoding="utf-8")
    summary = item(1)["body"]
    rows = [("selectolax (Lexbor)", lambda: parse_page(page), lambda: fragment_text(summary))]
    try:
        from bs4 import BeautifulSoup

        blocks = ["p", "div", "br", "li", "h1", "h2", "h3", "h4", "tr", "figcaption", "article", "section"]

        def soup_lines(html: str, parser: str) -> list[str]:
            soup = BeautifulSoup(html, parser)
            for tag in soup(["script", "style", "nav", "footer", "form", "head"]):
                tag.decompose()
            for tag in soup.find_all(blocks):
                tag.insert_before("\u2029")
                tag.insert_after("\u2029")
            return [line for line in (" ".join(x.split()) for x in soup.get_text().split("\u2029")) if line]

        for parser in ("html.parser", "lxml"):
            try:
                soup_lines("<p>x</p>", parser)
            except Exception:  # lxml not installed
                continue
            rows.append((f"BeautifulSoup ({parser})", lambda p=parser: soup_lines(page, p),
                         lambda p=parser: soup_lines(summary, p)))
    except ImportError:
        print("parsers: BeautifulSoup is not installed; only selectolax timed")
    for name, whole_page, one_summary in rows:
        t0 = time.perf_counter()
        for _ in range(200):
            whole_page()
        page_ms = (time.perf_counter() - t0) / 200 * 1000
        t0 = time.perf_counter()
        for _ in range(items):
            one_summary()
        print(f"parser {name:26} blog page {page_ms:6.2f} ms   {items} feed summaries {time.perf_counter() - t0:5.2f} s")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--parsers", action="store_true")
    args = ap.parse_args()
    feed = rss([item(n) for n in range(1, args.items + 1)])
    server = FeedServer().start()
    server.routes["/plain"] = Route(feed)
    server.routes["/etag"] = Route(feed, etag='"v1"')
    print(f"feed: {args.items} items, {len(feed.encode()) / 1e6:.1f} MB, served on 127.0.0.1")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            results = [await one_import(server.url("/plain"), folder) for _ in range(args.runs)]
            total = median([r["total"] for r in results])
            print(f"import into an empty store, in process (median of {args.runs}): {total:.2f} s, "
                  f"{args.items / total:,.0f} items/s (fetch {median([r['fetch'] for r in results]):.2f} s, "
                  f"parse {median([r['parse'] for r in results]):.2f} s, "
                  f"match and write {median([r['store'] for r in results]):.2f} s)")
            cli = [cli_import(server.url("/plain"), folder) for _ in range(args.runs)]
            print(f"`python -m bot import URL` (process start included, median of {args.runs}): {median(cli):.2f} s, "
                  f"{args.items / median(cli):,.0f} items/s")
            for path, label in (("/etag", "server honours ETag (304)"),
                                ("/plain", "no ETag: feed read again, every item compared")):
                times, status = await refresh_nothing_new(server.url(path), folder, args.runs)
                print(f"refresh that finds nothing new, {label}: median {median(times) * 1000:.0f} ms "
                      f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}; status {status}; nothing written)")
    finally:
        server.stop()
    if args.parsers:
        parsers(args.items)


if __name__ == "__main__":
    asyncio.run(main())
