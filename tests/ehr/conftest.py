"""EHR-side fixtures: a registered EHR with a real key pair, signed calls to the CDS
services, a real local HTTP server speaking FHIR JSON, and the prescriber-flow world
(demo data, real Orthanc with a mammogram 420 days old, real Redis)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from ordering.models import EhrClient
from tests.actors import Actors
from tests.cds.jwt_keys import register_client, rsa_key, token
from tests.http_peer import loopback_http
from tests.world import flow_pacs, world  # noqa: F401  (re-exported fixtures)

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


@dataclass
class Ehr:
    key: Any
    client: EhrClient

    def token(self, service_path: str, **claims: Any) -> str:
        return token(self.key, aud=f"http://testserver{service_path}", **claims)

    def post(self, http: Client, path: str, body: dict[str, Any], **claims: Any) -> Any:
        return http.post(
            path,
            data=json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {self.token(path, **claims)}",
        )

    def hook(self, http: Client, service: str, body: dict[str, Any], **claims: Any) -> Any:
        return self.post(http, f"/cds-services/{service}", body, **claims)

    def allow_fhir_server(self, base: str) -> None:
        """Register a FHIR server base the EHR may name as fhirServer."""
        self.client.fhir_servers = [*self.client.fhir_servers, base]
        self.client.save(update_fields=["fhir_servers"])


@pytest.fixture
def emr(actors: Actors) -> dict[str, Any]:
    """The REST API's token header of the `emr` api_client account."""
    return {"HTTP_AUTHORIZATION": f"Token {Token.objects.create(user=actors.emr).key}"}


@pytest.fixture
def ehr(db: None) -> Ehr:
    key = rsa_key()
    return Ehr(key=key, client=register_client(key))


@dataclass
class FhirServer:
    """A real HTTP server on loopback answering FHIR reads from a dict of paths."""

    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    delay_seconds: float = 0.0
    url: str = ""


@pytest.fixture
def fhir_server() -> Iterator[FhirServer]:
    state = FhirServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            import time

            state.requests.append((self.path, self.headers.get("Authorization", "")))
            if state.delay_seconds:
                time.sleep(state.delay_seconds)
            # Keyed by path without the query: one Observation bundle answers every
            # Observation search, and the service keeps only the codes it asked for.
            body = state.resources.get(self.path.lstrip("/").split("?")[0])
            if body is None:
                self.send_response(404)
                self.end_headers()
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    with loopback_http(Handler) as base:
        state.url = f"{base}/fhir"
        yield state
