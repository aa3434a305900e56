"""A real HTTP server on 127.0.0.1 for the importer tests (http.server in a thread), and feed builders.

Routes answer with a status, a content type and a body; one can hang (accept and never answer, until
the test ends, at most HANG_MAX_S), honour ETags with 304, or change between requests (a callable).
Every request is recorded: path, User-Agent, start and end, and how many ran at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

HANG_MAX_S = 15.0


@dataclass
class Route:
    body: bytes | str = b""
    content_type: str = "application/rss+xml; charset=utf-8"
    status: int = 200
    hang: bool = False
    delay_s: float = 0.0
    etag: str = ""

    def data(self) -> bytes:
        return self.body.encode("utf-8") if isinstance(self.body, str) else self.body


@dataclass
class Seen:
    path: str
    user_agent: str
    started: float
    ended: float = 0.0


@dataclass
class FeedServer:
    routes: dict[str, Route | Callable[[], Route]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    max_concurrent: int = 0

    def __post_init__(self) -> None:
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._active = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                record = Seen(self.path, self.headers.get("User-Agent", ""), time.monotonic())
                with server._lock:
                    server.seen.append(record)
                    server._active += 1
                    server.max_concurrent = max(server.max_concurrent, server._active)
                try:
                    self._answer()
                finally:
                    with server._lock:
                        server._active -= 1
                    record.ended = time.monotonic()

            def _answer(self) -> None:
                route = server.routes.get(self.path)
                if callable(route):
                    route = route()
                if route is None:
                    self.send_error(404)
                    return
                if route.hang:
                    server._release.wait(HANG_MAX_S)
                    return
                if route.delay_s:
                    time.sleep(route.delay_s)
                if route.etag and self.headers.get("If-None-Match") == route.etag:
                    self.send_response(304)
                    self.send_header("ETag", route.etag)
                    self.end_headers()
                    return
                data = route.data()
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(data)))
                if route.etag:
                    self.send_header("ETag", route.etag)
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FeedServer:
        self._thread.start()
        return self

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def hits(self, path: str) -> int:
        return sum(1 for s in self.seen if s.path == path)

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()


# -- feeds -------------------------------------------------------------------------------------

def item(n: int, *, day: datetime | None = None, title: str | None = None, body: str | None = None,
         link: str | None = None) -> dict:
    day = day or datetime(2026, 11, 1, 9, 0, tzinfo=UTC) - timedelta(hours=n)
    return {"title": title or f"Ministry news item number {n} about migration cooperation",
            "link": link if link is not None else f"https://www.moi.gov.tw/english/news_detail.aspx?sn={1000 + n}",
            "date": day,
            "body": body or f"<p>The Ministry of the Interior said on item {n} that <b>cooperation</b> goes on.</p>"
                            f"<p>Second paragraph of item {n}.</p>"}


def rss(items: list[dict], title: str = "MOI English news") -> str:
    parts = []
    for it in items:
        link = f"<link>{escape(it['link'])}</link><guid>{escape(it['link'])}</guid>" if it["link"] else ""
        parts.append(f"<item><title>{escape(it['title'])}</title>{link}"
                     f"<pubDate>{format_datetime(it['date'])}</pubDate>"
                     f"<description>{escape(it['body'])}</description></item>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
            f"<title>{escape(title)}</title><link>https://www.moi.gov.tw/english/</link>"
            f"<description>News of the Ministry of the Interior</description>{''.join(parts)}</channel></rss>\n")


def atom(items: list[dict], title: str = "MOI English blog") -> str:
    parts = []
    for it in items:
        stamp = it["date"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        parts.append(f"<entry><title>{escape(it['title'])}</title><link href=\"{escape(it['link'])}\"/>"
                     f"<id>{escape(it['link'])}</id><updated>{stamp}</updated><published>{stamp}</published>"
                     f"<content type=\"html\">{escape(it['body'])}</content></entry>")
    return ('<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>{escape(title)}</title><id>urn:moi:blog</id><updated>2026-11-01T00:00:00Z</updated>"
            f"{''.join(parts)}</feed>\n")
