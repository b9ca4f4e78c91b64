"""CDS Hooks calls are counted per EHR client at CDS_RATE_LIMIT, in the real Redis,
apart from the REST API's per-user throttle; past it, 429 with Retry-After."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from imaging_cds.env import env_rate
from tests.cds.jwt_keys import register_client, rsa_key, token

PATH = "/cds-services/imaging-order-select/feedback"


def call(client: Client, key: Any, iss: str) -> Any:
    bearer = token(key, aud=f"http://testserver{PATH}", iss=iss)
    return client.post(
        PATH,
        data=json.dumps({"feedback": []}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {bearer}",
    )


def test_each_ehr_client_has_its_own_cds_rate_limit_and_429_says_when_to_retry(
    client: Client, db: None, clear_cache: None, settings: Any
) -> None:
    settings.CDS_RATE_LIMIT = "3/min"
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "1/min"},
    }
    first_key, second_key = rsa_key(), rsa_key()
    first = register_client(first_key)
    first.issuer = "https://other-ehr.example.org"
    first.save()
    register_client(second_key)
    statuses = [
        call(client, first_key, "https://other-ehr.example.org").status_code for _ in range(3)
    ]
    assert statuses == [400, 400, 400]  # authenticated: the REST API's 1/min plays no part
    refused = call(client, first_key, "https://other-ehr.example.org")
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    # Another EHR is counted on its own.
    assert call(client, second_key, "https://ehr.example.org").status_code == 400


def test_a_bad_cds_rate_limit_stops_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CDS_RATE_LIMIT", "fast")
    with pytest.raises(ImproperlyConfigured, match="CDS_RATE_LIMIT"):
        env_rate("CDS_RATE_LIMIT", "600/min")
    monkeypatch.setenv("CDS_RATE_LIMIT", "20/s")
    assert env_rate("CDS_RATE_LIMIT", "600/min") == "20/s"
