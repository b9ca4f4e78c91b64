"""A SMART on FHIR EHR for the tests: a real HTTP server on loopback that serves the
SMART configuration, an authorization endpoint (checks client, redirect URI, launch,
audience and the PKCE challenge, then redirects back with a code), a token endpoint
(checks the code and the PKCE verifier, answers the patient in context and the
card's appContext) and FHIR reads that demand the access token it issued."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.http_peer import loopback_http

CLIENT_ID = "imaging-cds-test"


@dataclass
class Launch:
    patient_id: str
    app_context: str = ""


@dataclass
class SmartEhr:
    url: str = ""  # the FHIR base (iss)
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    launches: dict[str, Launch] = field(default_factory=dict)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, Launch] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    # What the next authorization answers: "" (grant) or an OAuth error code.
    deny: str = ""

    def launch(self, patient_id: str, app_context: str = "") -> str:
        token = secrets.token_urlsafe(12)
        self.launches[token] = Launch(patient_id, app_context)
        return token


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@pytest.fixture
def smart_ehr() -> Iterator[SmartEhr]:
    state = SmartEhr()

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None):
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            split = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(split.query).items()}
            state.requests.append(split.path)
            base = state.url.removesuffix("/fhir")
            if split.path == "/fhir/.well-known/smart-configuration":
                self._send(
                    200,
                    {
                        "authorization_endpoint": f"{base}/auth/authorize",
                        "token_endpoint": f"{base}/auth/token",
                        "capabilities": ["launch-ehr", "context-ehr-patient"],
                        "code_challenge_methods_supported": ["S256"],
                    },
                )
            elif split.path == "/auth/authorize":
                self._authorize(query)
            elif split.path.startswith("/fhir/"):
                bearer = self.headers.get("Authorization", "").removeprefix("Bearer ")
                if bearer not in state.tokens:
                    self._send(401, {"resourceType": "OperationOutcome"})
                    return
                body = state.resources.get(split.path.removeprefix("/fhir/"))
                self._send(200, body) if body is not None else self._send(404)
            else:
                self._send(404)

        def _authorize(self, query: dict[str, str]) -> None:
            launch = state.launches.get(query.get("launch", ""))
            ok = (
                query.get("response_type") == "code"
                and query.get("client_id") == CLIENT_ID
                and query.get("aud") == state.url
                and query.get("code_challenge_method") == "S256"
                and "launch" in query.get("scope", "").split()
                and launch is not None
            )
            if not ok:
                self._send(400, {"error": "invalid_request"})
                return
            target = query["redirect_uri"]
            if state.deny:
                answer = {"error": state.deny, "state": query["state"]}
            else:
                code = secrets.token_urlsafe(12)
                state.codes[code] = {
                    "launch": launch,
                    "challenge": query["code_challenge"],
                    "redirect_uri": target,
                }
                answer = {"code": code, "state": query["state"]}
            self._send(302, headers={"Location": f"{target}?{urlencode(answer)}"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            state.requests.append(self.path)
            if self.path != "/auth/token":
                self._send(404)
                return
            grant = state.codes.pop(form.get("code", ""), None)
            if (
                grant is None
                or form.get("grant_type") != "authorization_code"
                or form.get("client_id") != CLIENT_ID
                or form.get("redirect_uri") != grant["redirect_uri"]
                or _s256(form.get("code_verifier", "")) != grant["challenge"]
            ):
                self._send(400, {"error": "invalid_grant"})
                return
            access = secrets.token_urlsafe(16)
            launch: Launch = grant["launch"]
            state.tokens[access] = launch
            answer = {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "launch patient/Patient.read patient/Observation.read",
                "patient": launch.patient_id,
            }
            if launch.app_context:
                answer["appContext"] = launch.app_context
            self._send(200, answer)

        def log_message(self, *args: Any) -> None:
            pass

    with loopback_http(Handler) as base:
        state.url = f"{base}/fhir"
        yield state
