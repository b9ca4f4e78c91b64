"""A centre's FHIR server for the write-back tests: a real HTTP server (http.server
in a thread, on 127.0.0.1) that takes conditional creates, searches by identifier and
updates of ServiceRequest and Appointment, keeps what it was sent, and answers the
Appointment creates as scripted (201, 409 slot taken, 500, a huge or garbage body)."""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

BASE = "fhir"


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    if_none_exist: str
    body: dict[str, Any] | None


def _identifier_matches(resource: dict[str, Any], token: str) -> bool:
    system, _sep, value = token.partition("|")
    return any(
        i.get("system") == system and i.get("value") == value
        for i in resource.get("identifier") or []
    )


class FhirReceiver:
    def __init__(self) -> None:
        self.store: dict[str, dict[str, dict[str, Any]]] = {
            "ServiceRequest": {},
            "Appointment": {},
        }
        self.received: list[Received] = []
        self._script: deque[str] = deque()
        self._lock = threading.Lock()
        self._next_id = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                receiver._answer(self, "GET")

            def do_POST(self) -> None:
                receiver._answer(self, "POST")

            def do_PUT(self) -> None:
                receiver._answer(self, "PUT")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{BASE}"

    def start(self) -> FhirReceiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def script(self, *answers: str) -> None:
        """How the next Appointment creates are answered, in turn: "201", "409",
        "500", "huge", "garbage"; then 201 again."""
        with self._lock:
            self._script.extend(answers)

    def resources(self, resource_type: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.store[resource_type].values())

    def _send(
        self, handler: BaseHTTPRequestHandler, status: int, body: Any, **headers: str
    ) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/fhir+json")
        handler.send_header("Content-Length", str(len(raw)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(raw)

    def _answer(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length)) if length else None
        parts = urlsplit(handler.path)
        segments = [s for s in parts.path.split("/") if s]
        if_none_exist = handler.headers.get("If-None-Exist", "")
        with self._lock:
            self.received.append(Received(method, handler.path, if_none_exist, body))
        if len(segments) < 2 or segments[0] != BASE or segments[1] not in self.store:
            self._send(handler, 404, {"resourceType": "OperationOutcome"})
            return
        resource_type = segments[1]
        with self._lock:
            store = self.store[resource_type]
            if method == "GET":
                token = parse_qs(parts.query).get("identifier", [""])[0]
                found = [r for r in store.values() if _identifier_matches(r, token)]
                bundle = {
                    "resourceType": "Bundle",
                    "type": "searchset",
                    "total": len(found),
                    "entry": [{"resource": r} for r in found],
                }
                self._send(handler, 200, bundle)
                return
            if method == "PUT":
                assert body is not None and len(segments) == 3
                store[segments[2]] = body
                self._send(handler, 200, body)
                return
            token = if_none_exist.removeprefix("identifier=")
            existing = [r for r in store.values() if token and _identifier_matches(r, token)]
            if existing:
                self._send(handler, 200, existing[0])
                return
            answer = (
                self._script.popleft() if resource_type == "Appointment" and self._script else "201"
            )
            if answer == "409":
                outcome = {
                    "resourceType": "OperationOutcome",
                    "issue": [
                        {"severity": "error", "code": "conflict", "diagnostics": "Slot is not free"}
                    ],
                }
                self._send(handler, 409, outcome)
                return
            if answer == "500":
                self._send(handler, 500, {"resourceType": "OperationOutcome"})
                return
            if answer == "huge":
                self._send(handler, 201, b" " * (6 * 1024 * 1024))
                return
            if answer == "garbage":
                self._send(handler, 201, b"<html>not FHIR</html>")
                return
            self._next_id += 1
            new_id = f"{resource_type[:2].lower()}-{self._next_id}"
            assert body is not None
            stored = {**body, "id": new_id}
            store[new_id] = stored
            self._send(
                handler, 201, stored, Location=f"{self.url}/{resource_type}/{new_id}/_history/1"
            )
