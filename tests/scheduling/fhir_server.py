"""A real HTTP server (http.server in a thread, on 127.0.0.1) serving FHIR Slot
searchset Bundles, so that the feed client is tested over real sockets.

Each feed has its own path prefix: ``http://127.0.0.1:<port>/<feed>`` is the base
URL a centre declares; ``/<feed>/Slot?...`` answers page 0 and each page links
to the next with ``/<feed>/Slot?page=<n>``.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).parent / "fixtures"
PUBLISHED_EXAMPLES = (
    "slot-example.json",
    "slot-example-busy.json",
    "slot-example-tentative.json",
    "slot-example-unavailable.json",
)


def published_examples(*, move_to_after: datetime | None = None) -> list[dict[str, Any]]:
    """HL7's four published Slot examples; with ``move_to_after``, their dates are
    moved forward by the same whole number of weeks to lie after that moment."""
    examples = [json.loads((FIXTURES / name).read_text()) for name in PUBLISHED_EXAMPLES]
    if move_to_after is None:
        return examples
    first = min(datetime.fromisoformat(e["start"]) for e in examples)
    weeks = (move_to_after - first) // timedelta(weeks=1) + 1
    shift = timedelta(weeks=weeks)
    for example in examples:
        for key in ("start", "end"):
            moved = datetime.fromisoformat(example[key]) + shift
            example[key] = moved.isoformat().replace("+00:00", "Z")
    return examples


def slot_resource(
    slot_id: str, schedule: str, start: datetime, minutes: int = 20, status: str = "free"
) -> dict[str, Any]:
    return {
        "resourceType": "Slot",
        "id": slot_id,
        "schedule": {"reference": schedule},
        "status": status,
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=minutes)).isoformat(),
    }


@dataclass
class Feed:
    pages: list[list[dict[str, Any]]] = field(default_factory=list)
    status: int = 200
    raw: bytes | None = None
    delay: float = 0.0
    next_link_override: str | None = None


class FhirServer:
    def __init__(self) -> None:
        self.feeds: dict[str, Feed] = {}
        self.requests: list[str] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                server._answer(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def start(self) -> FhirServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, feed: str) -> str:
        return f"http://127.0.0.1:{self.port}/{feed}"

    def serve(self, feed: str, *pages: list[dict[str, Any]], **options: Any) -> None:
        with self._lock:
            self.feeds[feed] = Feed(pages=[copy.deepcopy(p) for p in pages], **options)

    def requests_for(self, feed: str) -> list[str]:
        return [r for r in self.requests if r.startswith(f"/{feed}/")]

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        self.requests.append(handler.path)
        parts = urlsplit(handler.path)
        feed_name = parts.path.strip("/").split("/")[0]
        feed = self.feeds.get(feed_name)
        if feed is None:
            self._send(handler, 404, b'{"resourceType": "OperationOutcome"}')
            return
        if feed.delay:
            time.sleep(feed.delay)
        if feed.raw is not None or feed.status != 200:
            self._send(handler, feed.status, feed.raw or b"{}")
            return
        page = int(parse_qs(parts.query).get("page", ["0"])[0])
        bundle: dict[str, Any] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": sum(len(p) for p in feed.pages),
            "link": [{"relation": "self", "url": f"{self.url(feed_name)}{handler.path}"}],
            "entry": [
                {
                    "fullUrl": f"{self.url(feed_name)}/Slot/{r['id']}",
                    "resource": r,
                    "search": {"mode": "match"},
                }
                for r in (feed.pages[page] if page < len(feed.pages) else [])
            ],
        }
        if feed.next_link_override and page == 0:
            bundle["link"].append({"relation": "next", "url": feed.next_link_override})
        elif page + 1 < len(feed.pages):
            bundle["link"].append(
                {"relation": "next", "url": f"{self.url(feed_name)}/Slot?page={page + 1}"}
            )
        self._send(handler, 200, json.dumps(bundle).encode())

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/fhir+json")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests)
