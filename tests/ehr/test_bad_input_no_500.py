"""Input that used to answer 500 now gets a clear 4xx in the API's own error shape:
a JSON body nested thousands of levels deep, a page limit past any integer, a
FHIR search date that is no date."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from ordering.api.pagination import MAX_LIMIT, MAX_OFFSET
from ordering.api.parsers import MAX_JSON_DEPTH
from tests.actors import Actors
from tests.ehr.conftest import Ehr

TOO_DEEP = "[" * 5000 + "]" * 5000


@pytest.fixture
def emr(actors: Actors) -> dict[str, Any]:
    return {"HTTP_AUTHORIZATION": f"Token {Token.objects.create(user=actors.emr).key}"}


def assert_too_deep(response: Any) -> None:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "json_too_deep"
    assert str(MAX_JSON_DEPTH) in error["message"]


# --- JSON nesting depth ---------------------------------------------------------------


def test_it_refuses_a_json_body_nested_too_deep_on_evaluate(
    client: Client, emr: dict[str, Any]
) -> None:
    response = client.post("/api/v1/evaluate", TOO_DEEP, content_type="application/json", **emr)
    assert_too_deep(response)


def test_it_refuses_a_json_body_nested_too_deep_on_a_cds_hooks_service(
    client: Client, ehr: Ehr
) -> None:
    path = "/cds-services/imaging-order-select"
    response = client.post(
        path,
        TOO_DEEP,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {ehr.token(path)}",
    )
    assert_too_deep(response)


def test_it_counts_only_brackets_outside_strings(client: Client, emr: dict[str, Any]) -> None:
    # Brackets inside a string are text, however many: the body is read and validated.
    body = '{"indication_code": "' + "[" * 5000 + '", "patient": {}}'
    response = client.post("/api/v1/evaluate", body, content_type="application/json", **emr)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_it_still_reads_a_body_nested_to_the_limit(client: Client, emr: dict[str, Any]) -> None:
    body = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    response = client.post("/api/v1/evaluate", body, content_type="application/json", **emr)
    # Parsed, then refused by the serializer as not an object: not a depth error.
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_it_answers_malformed_json_with_a_parse_error(client: Client, emr: dict[str, Any]) -> None:
    response = client.post(
        "/api/v1/evaluate", '{"patient": "unterminated', content_type="application/json", **emr
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


# --- Page bounds ----------------------------------------------------------------------


@pytest.fixture
def catalogue(db: None) -> None:
    from guidelines.catalogue import procedure_catalogue_load

    procedure_catalogue_load()


def test_it_reads_a_limit_past_any_integer_as_the_largest_page(
    client: Client, emr: dict[str, Any], catalogue: None
) -> None:
    response = client.get("/api/v1/procedures?limit=99999999999999999999", **emr)
    assert response.status_code == 200, response.content
    body = response.json()
    assert len(body["results"]) == min(MAX_LIMIT, body["count"])


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("offset=99999999999999999999", "offset"),
        (f"offset={MAX_OFFSET + 1}", "offset"),
        ("offset=-1", "offset"),
        ("offset=abc", "offset"),
        ("limit=0", "limit"),
        ("limit=-5", "limit"),
        ("limit=1_000", "limit"),
        ("limit=", "limit"),
    ],
)
def test_it_refuses_an_offset_or_limit_that_is_not_in_range(
    client: Client, emr: dict[str, Any], catalogue: None, query: str, field: str
) -> None:
    response = client.get(f"/api/v1/procedures?{query}", **emr)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert list(error["fields"]) == [field]


def test_an_offset_past_the_end_is_an_empty_page(
    client: Client, emr: dict[str, Any], catalogue: None
) -> None:
    response = client.get(f"/api/v1/procedures?offset={MAX_OFFSET}", **emr)
    assert response.status_code == 200
    assert response.json()["results"] == []
