from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from tests.actors import Actors


@pytest.fixture
def emr_token(actors: Actors) -> str:
    return Token.objects.create(user=actors.emr).key


@pytest.fixture
def catalogue(db: None) -> None:
    from guidelines.catalogue import procedure_catalogue_load

    procedure_catalogue_load()


def test_an_api_client_lists_procedures_with_its_token(
    client: Client, emr_token: str, catalogue: None
) -> None:
    response = client.get("/api/v1/procedures?limit=5", HTTP_AUTHORIZATION=f"Token {emr_token}")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] >= 20
    assert len(body["results"]) == 5
    assert {"code", "modality", "dose_class"} <= set(body["results"][0])


def test_a_revoked_token_gets_a_structured_401(client: Client, emr_token: str) -> None:
    Token.objects.filter(key=emr_token).delete()
    response = client.get("/api/v1/procedures", HTTP_AUTHORIZATION=f"Token {emr_token}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] in {"authentication_failed", "not_authenticated"}


def test_a_prescriber_session_is_not_an_api_client(client: Client, actors: Actors) -> None:
    client.force_login(actors.alice)
    response = client.get("/api/v1/procedures")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_an_oversized_body_is_refused_with_413(
    client: Client, emr_token: str, settings: object
) -> None:
    settings.MAX_REQUEST_BODY_BYTES = 2048  # type: ignore[attr-defined]
    response = client.post(
        "/api/v1/procedures",
        data="x" * 5000,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {emr_token}",
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_the_openapi_schema_and_its_docs_page_are_served_by_the_app(
    client: Client, actors: Actors
) -> None:
    client.force_login(actors.emr)
    schema = client.get("/api/v1/schema", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    assert "/api/v1/procedures" in schema.json()["paths"]
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    page = docs.content.decode()
    assert "<script>" not in page
    assert "cdn" not in page.lower()


def test_the_api_rate_limit_answers_429_per_client(
    client: Client, emr_token: str, settings: object, clear_cache: None
) -> None:
    from rest_framework.throttling import UserRateThrottle

    original = UserRateThrottle.THROTTLE_RATES
    UserRateThrottle.THROTTLE_RATES = {**original, "user": "3/min"}
    try:
        codes = [
            client.get("/api/v1/procedures", HTTP_AUTHORIZATION=f"Token {emr_token}").status_code
            for _ in range(4)
        ]
    finally:
        UserRateThrottle.THROTTLE_RATES = original
    assert codes == [200, 200, 200, 429]
