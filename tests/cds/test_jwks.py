"""The JWT header as CDS Hooks fixes it (typ JWT, kid required, jku only when
registered) and keys served at a registered jwks_url: fetched, cached, refetched once
when the EHR rotates its keys. A real local HTTP server serves the JWK Set; the cache
is the real Redis."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from django.test import Client

from ordering.models import EhrClient
from tests.cds.jwt_keys import ISSUER, public_jwk, register_client, rsa_key

PATH = "/cds-services/imaging-order-select/feedback"
AUD = f"http://testserver{PATH}"


@dataclass
class JwksServer:
    keys: list[dict[str, Any]] = field(default_factory=list)
    hits: int = 0
    url: str = ""


def _serve() -> Iterator[JwksServer]:
    state = JwksServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits += 1
            data = json.dumps({"keys": state.keys}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    yield from _serve()


@pytest.fixture
def other_jwks_server() -> Iterator[JwksServer]:
    yield from _serve()


def mint(key: Any, *, kid: str | None = "k1", typ: str | None = "JWT", **header: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUD, "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex}
    headers: dict[str, Any] = {**header}
    if kid is not None:
        headers["kid"] = kid
    headers["typ"] = typ
    token = jwt.encode(claims, key, algorithm="RS384", headers=headers)
    if typ is None:  # PyJWT always writes typ: rebuild the header without it
        _, payload, signature = token.split(".")
        head = {"alg": "RS384", **({"kid": kid} if kid else {})}
        raw = jwt.utils.base64url_encode(json.dumps(head).encode()).decode()
        signing_input = f"{raw}.{payload}".encode()
        signature = jwt.utils.base64url_encode(
            jwt.get_algorithm_by_name("RS384").sign(signing_input, key)
        ).decode()
        token = f"{raw}.{payload}.{signature}"
    return token


def call(client: Client, token: str) -> int:
    response = client.post(
        PATH,
        data=json.dumps({"feedback": []}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    # Authenticated, the empty feedback list is a 400; refused, a 401.
    return response.status_code


def served_client(url: str) -> EhrClient:
    client = register_client(rsa_key())
    client.jwks = {}
    client.jwks_url = url
    client.save()
    return client


def test_a_token_with_the_registered_jwks_is_accepted(client: Client, db: None) -> None:
    key = rsa_key()
    register_client(key)
    assert call(client, mint(key)) == 400


@pytest.mark.parametrize("typ", ["at+jwt", "JOSE", None])
def test_a_token_whose_typ_is_not_jwt_is_refused_with_401(
    client: Client, db: None, typ: str | None
) -> None:
    key = rsa_key()
    register_client(key)
    assert call(client, mint(key, typ=typ)) == 401


def test_a_token_without_kid_is_refused_with_401(client: Client, db: None) -> None:
    key = rsa_key()
    register_client(key)
    assert call(client, mint(key, kid=None)) == 401


def test_a_token_whose_kid_is_not_in_the_registered_jwks_is_refused_with_401(
    client: Client, db: None
) -> None:
    key = rsa_key()
    register_client(key)
    assert call(client, mint(key, kid="k2")) == 401


def test_keys_served_at_the_registered_url_are_fetched_once_and_cached(
    client: Client, db: None, clear_cache: None, jwks_server: JwksServer
) -> None:
    key = rsa_key()
    jwks_server.keys = [public_jwk(key, "k1", "RS384")]
    served_client(jwks_server.url)
    assert call(client, mint(key)) == 400
    assert call(client, mint(key)) == 400
    assert jwks_server.hits == 1


def test_a_rotated_key_is_found_by_one_refetch_and_unknown_kids_are_rate_limited(
    client: Client, db: None, clear_cache: None, jwks_server: JwksServer
) -> None:
    old, new = rsa_key(), rsa_key()
    jwks_server.keys = [public_jwk(old, "k1", "RS384")]
    served_client(jwks_server.url)
    assert call(client, mint(old)) == 400
    assert jwks_server.hits == 1
    # The EHR rotates: its set now has k2; the cached one does not.
    jwks_server.keys = [public_jwk(new, "k2", "RS384"), public_jwk(old, "k1", "RS384")]
    assert call(client, mint(new, kid="k2")) == 400
    assert jwks_server.hits == 2
    # Forged kids: refused, and within the interval they cause no further fetch.
    for _ in range(3):
        assert call(client, mint(rsa_key(), kid=f"forged-{uuid.uuid4().hex[:6]}")) == 401
    assert jwks_server.hits == 2


def test_a_jku_equal_to_the_registered_url_is_followed(
    client: Client, db: None, clear_cache: None, jwks_server: JwksServer
) -> None:
    key = rsa_key()
    jwks_server.keys = [public_jwk(key, "k1", "RS384")]
    served_client(jwks_server.url)
    assert call(client, mint(key, jku=jwks_server.url)) == 400


def test_a_jku_to_another_url_is_refused_with_401_and_never_fetched(
    client: Client,
    db: None,
    clear_cache: None,
    jwks_server: JwksServer,
    other_jwks_server: JwksServer,
) -> None:
    key, attacker = rsa_key(), rsa_key()
    jwks_server.keys = [public_jwk(key, "k1", "RS384")]
    other_jwks_server.keys = [public_jwk(attacker, "k1", "RS384")]
    served_client(jwks_server.url)
    assert call(client, mint(attacker, jku=other_jwks_server.url)) == 401
    assert other_jwks_server.hits == 0


def test_a_jwks_url_that_cannot_be_read_refuses_the_token_with_401(
    client: Client, db: None, clear_cache: None
) -> None:
    from tests.orthanc import free_port

    key = rsa_key()
    served_client(f"http://127.0.0.1:{free_port()}/jwks.json")
    assert call(client, mint(key)) == 401
