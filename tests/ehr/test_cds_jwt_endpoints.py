"""Every CDS service call and feedback is refused with 401 unless the EHR's JWT is
good: real keys, real signatures, at the HTTP endpoints."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from django.test import Client

from tests.cds.jwt_keys import rsa_key, token
from tests.ehr.conftest import Ehr

PATHS = ["/cds-services/imaging-order-select", "/cds-services/imaging-order-select/feedback"]
BODY = {"hook": "order-select", "hookInstance": "x", "context": {}}


def post(client: Client, path: str, bearer: str | None) -> Any:
    headers: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {bearer}"} if bearer else {}
    return client.post(path, data=json.dumps(BODY), content_type="application/json", **headers)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("path", PATHS)
def test_a_call_without_a_jwt_is_refused_with_401(client: Client, ehr: Ehr, path: str) -> None:
    assert post(client, path, None).status_code == 401


@pytest.mark.parametrize("path", PATHS)
def test_an_expired_jwt_is_refused_with_401(client: Client, ehr: Ehr, path: str) -> None:
    assert post(client, path, ehr.token(path, lifetime=-120)).status_code == 401


@pytest.mark.parametrize("path", PATHS)
def test_a_jwt_for_another_audience_is_refused_with_401(
    client: Client, ehr: Ehr, path: str
) -> None:
    bearer = token(ehr.key, aud="http://testserver/cds-services/imaging-order-sign-other")
    assert post(client, path, bearer).status_code == 401


@pytest.mark.parametrize("path", PATHS)
def test_a_jwt_from_an_unknown_issuer_is_refused_with_401(
    client: Client, ehr: Ehr, path: str
) -> None:
    bearer = token(rsa_key(), aud=f"http://testserver{path}", iss="https://stranger.example")
    assert post(client, path, bearer).status_code == 401


@pytest.mark.parametrize("path", PATHS)
def test_a_replayed_jwt_is_refused_with_401(client: Client, ehr: Ehr, path: str) -> None:
    bearer = ehr.token(path, jti=uuid.uuid4().hex)
    assert post(client, path, bearer).status_code != 401
    assert post(client, path, bearer).status_code == 401


@pytest.mark.parametrize("path", PATHS)
def test_an_unsigned_alg_none_jwt_is_refused_with_401(client: Client, ehr: Ehr, path: str) -> None:
    import time

    now = int(time.time())
    claims = {
        "iss": ehr.client.issuer,
        "aud": f"http://testserver{path}",
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
    }
    bearer = f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': 'k1'})}.{_b64(claims)}."
    assert post(client, path, bearer).status_code == 401


def test_a_jwt_signed_by_another_key_with_the_right_issuer_is_refused_with_401(
    client: Client, ehr: Ehr
) -> None:
    path = PATHS[0]
    assert post(client, path, token(rsa_key(), aud=f"http://testserver{path}")).status_code == 401


def test_discovery_needs_no_jwt(client: Client, db: None) -> None:
    assert client.get("/cds-services").status_code == 200
