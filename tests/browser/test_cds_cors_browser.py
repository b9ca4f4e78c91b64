"""A browser-based CDS client on another origin calls the live CDS Hooks endpoints:
real Chromium does the CORS preflight and the JWT-signed POST, from a page served by a
second local HTTP server; the answers are readable by the page."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Page
from pytest_django.live_server_helper import LiveServer

from tests.cds.jwt_keys import register_client, rsa_key, token

PAGE = b"<!doctype html><html lang='en'><title>EHR</title><p>EHR page</p></html>"


@pytest.fixture
def other_origin() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


CALL = """async ([url, bearer]) => {
  const discovery = await fetch(url.replace(/\\/imaging-order-select\\/feedback$/, ""));
  const signed = await fetch(url, {
    method: "POST",
    headers: {"Authorization": "Bearer " + bearer, "Content-Type": "application/json"},
    body: JSON.stringify({feedback: []}),
  });
  const unsigned = await fetch(url, {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: "{}",
  });
  return {
    discovery: discovery.status,
    services: (await discovery.json()).services.length,
    signed: signed.status,
    signedBody: await signed.json(),
    unsigned: unsigned.status,
  };
}"""


@pytest.mark.browser
def test_a_page_on_another_origin_calls_the_services_with_a_jwt(
    page: Page, live_server: LiveServer, other_origin: str, transactional_db: None
) -> None:
    key = rsa_key()
    register_client(key)
    url = f"{live_server.url}/cds-services/imaging-order-select/feedback"
    page.goto(other_origin)
    assert page.evaluate("location.origin") != live_server.url
    result = page.evaluate(CALL, [url, token(key, aud=url)])
    assert result["discovery"] == 200
    assert result["services"] == 2
    # Through the preflight and the JWT: the empty feedback list is refused, readably.
    assert result["signed"] == 400
    assert result["signedBody"]["error"]["code"] == "invalid"
    assert result["unsigned"] == 401
