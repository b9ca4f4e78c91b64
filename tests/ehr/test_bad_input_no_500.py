"""Input that used to answer 500 now gets a clear 4xx in the API's own error shape:
a JSON body nested thousands of levels deep, a page limit past any integer, a
FHIR search date that is no date."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from ordering.api.fhir_dates import FhirDateError, date_search_parse
from ordering.api.pagination import MAX_LIMIT, MAX_OFFSET
from ordering.api.parsers import MAX_JSON_DEPTH
from tests.ehr.conftest import Ehr
from tests.world import FlowPacs

TOO_DEEP = "[" * 5000 + "]" * 5000


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


# --- FHIR search dates ----------------------------------------------------------------


@pytest.mark.parametrize("value", ["ge2026-13-01", "ge2026-12-02T25:00:00"])
def test_a_fhir_slot_search_with_an_impossible_date_is_an_invalid_operation_outcome(
    client: Client, emr: dict[str, Any], value: str
) -> None:
    response = client.get(f"/fhir/Slot?start={value}", **emr)
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/fhir+json")
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    [issue] = outcome["issue"]
    assert issue["severity"] == "error" and issue["code"] == "invalid"
    assert "start" in issue["diagnostics"] and value in issue["diagnostics"]


def test_a_fhir_slot_search_narrows_free_slots_by_every_start_given(
    client: Client, emr: dict[str, Any], world: FlowPacs
) -> None:
    from scheduling.models import Slot, SlotStatus

    first = Slot.objects.filter(status=SlotStatus.FREE, start__gte=timezone.now()).earliest("start")
    day = timezone.localtime(first.start).date().isoformat()
    response = client.get(f"/fhir/Slot?start=ge{day}&start=le{day}&_count=100", **emr)
    assert response.status_code == 200, response.content
    starts = {
        timezone.localtime(datetime.fromisoformat(entry["resource"]["start"])).date().isoformat()
        for entry in response.json()["entry"]
    }
    assert starts == {day}
    past = client.get("/fhir/Slot?start=lt2025-01-01", **emr)
    assert past.status_code == 200 and "entry" not in past.json()


PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("text", "prefix", "low", "high"),
    [
        ("2026", "eq", datetime(2026, 1, 1, tzinfo=PARIS), datetime(2027, 1, 1, tzinfo=PARIS)),
        (
            "ge2026-12",
            "ge",
            datetime(2026, 12, 1, tzinfo=PARIS),
            datetime(2027, 1, 1, tzinfo=PARIS),
        ),
        (
            "lt2026-02-28",
            "lt",
            datetime(2026, 2, 28, tzinfo=PARIS),
            datetime(2026, 3, 1, tzinfo=PARIS),
        ),
        (
            "sa2026-12-02T10:00",
            "sa",
            datetime(2026, 12, 2, 10, 0, tzinfo=PARIS),
            datetime(2026, 12, 2, 10, 1, tzinfo=PARIS),
        ),
        (
            "eb2026-12-02T10:00:00Z",
            "eb",
            datetime(2026, 12, 2, 10, tzinfo=UTC),
            datetime(2026, 12, 2, 10, 0, 1, tzinfo=UTC),
        ),
        (
            "ne2026-12-02T10:00:00.5+01:00",
            "ne",
            datetime(2026, 12, 2, 9, 0, 0, 500000, tzinfo=UTC),
            datetime(2026, 12, 2, 9, 0, 0, 600000, tzinfo=UTC),
        ),
        # An unencoded "+" in a query string reaches the server as a space.
        (
            "ap2026-06-01T08:30:00 02:00",
            "ap",
            datetime(2026, 6, 1, 6, 30, tzinfo=UTC),
            datetime(2026, 6, 1, 6, 30, 1, tzinfo=UTC),
        ),
        (
            "gt2026-01-01",
            "gt",
            datetime(2026, 1, 1, tzinfo=PARIS),
            datetime(2026, 1, 2, tzinfo=PARIS),
        ),
        (
            "le2026-01-01",
            "le",
            datetime(2026, 1, 1, tzinfo=PARIS),
            datetime(2026, 1, 2, tzinfo=PARIS),
        ),
    ],
)
def test_the_fhir_date_parser_reads_every_prefix_and_precision_as_a_range(
    text: str, prefix: str, low: datetime, high: datetime, settings: Any
) -> None:
    settings.TIME_ZONE = "Europe/Paris"
    search = date_search_parse(text)
    assert (search.prefix, search.low, search.high) == (prefix, low, high)


@pytest.mark.parametrize(
    "text",
    [
        "2026-13-01",
        "2026-02-30",
        "2026-12-02T25:00:00",
        "2026-12-02T10:60",
        "2026-12-02T10:00:00+25:00",
        "xx2026-01-01",
        "GE2026-01-01",
        "26-01-01",
        "2026-1-1",
        "2026-12-02T10",
        "2026-12-02+01:00",
        "2026-12-02T10:00:00.",
        "9999",
        "",
        "ge",
    ],
)
def test_the_fhir_date_parser_refuses_what_is_no_date(text: str) -> None:
    with pytest.raises(FhirDateError):
        date_search_parse(text)
