"""CORS on the CDS Hooks endpoints, as CDS Hooks asks of services that browser-based
clients call: a preflight is answered without credentials, discovery and a JWT-signed
call are readable from any origin; other paths are untouched."""

from __future__ import annotations

import json

from django.test import Client

from tests.ehr.conftest import Ehr

ORIGIN = "https://ehr-web.example.org"
SERVICE = "/cds-services/imaging-order-select"


def test_a_preflight_to_a_service_is_answered_without_credentials(client: Client, db: None) -> None:
    for path in ("/cds-services", SERVICE, f"{SERVICE}/feedback"):
        response = client.options(
            path,
            HTTP_ORIGIN=ORIGIN,
            HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
            HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
        )
        assert response.status_code == 204, path
        assert response["Access-Control-Allow-Origin"] == "*"
        allowed = {h.strip().lower() for h in response["Access-Control-Allow-Headers"].split(",")}
        assert {"authorization", "content-type"} <= allowed
        methods = {m.strip() for m in response["Access-Control-Allow-Methods"].split(",")}
        assert {"GET", "POST", "OPTIONS"} <= methods
        assert "Access-Control-Allow-Credentials" not in response


def test_discovery_and_a_signed_call_are_readable_from_any_origin(client: Client, ehr: Ehr) -> None:
    discovery = client.get("/cds-services", HTTP_ORIGIN=ORIGIN)
    assert discovery.status_code == 200
    assert discovery["Access-Control-Allow-Origin"] == "*"
    path = f"{SERVICE}/feedback"
    signed = client.post(
        path,
        data=json.dumps({"feedback": []}),
        content_type="application/json",
        HTTP_ORIGIN=ORIGIN,
        HTTP_AUTHORIZATION=f"Bearer {ehr.token(path)}",
    )
    assert signed.status_code == 400  # through authentication: the empty list is refused
    assert signed["Access-Control-Allow-Origin"] == "*"


def test_cors_does_not_replace_the_jwt(client: Client, ehr: Ehr) -> None:
    unsigned = client.post(SERVICE, data="{}", content_type="application/json", HTTP_ORIGIN=ORIGIN)
    assert unsigned.status_code == 401
    assert unsigned["Access-Control-Allow-Origin"] == "*"


def test_other_paths_get_no_cors_headers(client: Client, db: None) -> None:
    response = client.options(
        "/api/v1/ping", HTTP_ORIGIN=ORIGIN, HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET"
    )
    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Origin" not in client.get("/api/v1/ping", HTTP_ORIGIN=ORIGIN)
