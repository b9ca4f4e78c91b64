"""The audit trail: what leaves a record, the admin's search and export, and the
rule that a patient identifier never appears in a URL, a page of the trail or an
error report."""

from __future__ import annotations

import csv
import io
import sys
from datetime import timedelta
from typing import Any

import pytest
from django.core.signals import got_request_exception
from django.test import Client
from django.utils import timezone
from django.views.debug import ExceptionReporter

from imaging_cds.audit import audit_record
from imaging_cds.models import AuditEvent
from imaging_cds.pseudonym import pseudonymise
from tests.actors import Actors

IDENTIFIER = "AUDITPAT01"
OTHER = "AUDITPAT02"


@pytest.fixture
def trail(actors: Actors) -> dict[str, AuditEvent]:
    ref = pseudonymise(f"local|{IDENTIFIER}")
    return {
        "mine": audit_record(action="consultation.read", user=actors.alice, patient_ref=ref),
        "bob": audit_record(action="order.read", user=actors.bob, patient_ref=ref),
        "other": audit_record(
            action="consultation.read",
            user=actors.alice,
            patient_ref=pseudonymise(f"local|{OTHER}"),
        ),
    }


@pytest.fixture
def admin(client: Client, actors: Actors) -> Client:
    client.force_login(actors.erin)
    return client


def search(client: Client, **fields: str) -> Any:
    data = {"identifier_kind": "local", "reason": "Patient request (RGPD art. 15)", **fields}
    return client.post("/audit/", data)


def test_searching_by_patient_finds_that_patients_events_and_records_the_search(
    admin: Client, trail: dict[str, AuditEvent]
) -> None:
    response = search(admin, identifier=f" {IDENTIFIER.lower()} ")
    assert response.status_code == 200
    page = response.content.decode()
    assert "order.read" in page and page.count("consultation.read") == 1
    # The identifier is hashed server-side: never echoed, never in the trail.
    assert IDENTIFIER not in page and IDENTIFIER.lower() not in page
    recorded = AuditEvent.objects.get(action="audit.search")
    assert recorded.actor_username == "erin"
    assert recorded.reason == "Patient request (RGPD art. 15)"
    assert recorded.patient_ref == pseudonymise(f"local|{IDENTIFIER}")
    assert recorded.remote_addr == "127.0.0.1"
    assert IDENTIFIER not in str(recorded.detail)


def test_searching_by_user_and_date_narrows_the_events(
    admin: Client, trail: dict[str, AuditEvent]
) -> None:
    page = search(admin, username="bob").content.decode()
    assert "order.read" in page and "consultation.read" not in page
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    page = search(admin, date_from=tomorrow).content.decode()
    assert "order.read" not in page and "consultation.read" not in page
    today = timezone.localdate().isoformat()
    page = search(admin, date_from=today, date_to=today).content.decode()
    assert "order.read" in page


def test_a_search_without_a_reason_is_refused(admin: Client, trail: object) -> None:
    response = admin.post("/audit/", {"identifier_kind": "local", "identifier": IDENTIFIER})
    assert response.status_code == 400
    assert not AuditEvent.objects.filter(action="audit.search").exists()


def test_the_csv_export_holds_the_matching_events_and_is_itself_audited(
    admin: Client, trail: dict[str, AuditEvent]
) -> None:
    response = admin.post(
        "/audit/export.csv",
        {"identifier_kind": "local", "identifier": IDENTIFIER, "reason": "=DPO review"},
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert sorted(r["action"] for r in rows) == ["consultation.read", "order.read"]
    assert {r["patient_ref"] for r in rows} == {pseudonymise(f"local|{IDENTIFIER}")}
    assert IDENTIFIER not in response.content.decode()
    export = AuditEvent.objects.get(action="audit.export")
    assert export.detail["rows"] == 2
    assert export.reason == "=DPO review"
    # A later export shows the earlier one, its reason neutralised for spreadsheets.
    again = admin.post("/audit/export.csv", {"identifier_kind": "local", "reason": "check"})
    text = again.content.decode()
    assert "audit.export" in text and "'=DPO review" in text


def test_a_guideline_change_leaves_an_audit_record_with_who_and_from_where(
    admin: Client, actors: Actors
) -> None:
    from guidelines.rulepack import rulepack_load
    from tests.permissions.world import TEST_PACK

    rule_set = rulepack_load(paths=[TEST_PACK], publish=True, label="Audit").rule_set
    assert admin.post(f"/guidelines/v{rule_set.version}/clone/").status_code == 302
    clone = AuditEvent.objects.get(action="guideline.clone")
    assert clone.actor_username == "erin"
    assert clone.remote_addr == "127.0.0.1"
    assert clone.object_id == str(rule_set.version + 1)
    assert AuditEvent.objects.filter(action="guideline.publish").exists()


@pytest.mark.django_db
def test_no_url_pattern_takes_a_patient_identifier() -> None:
    from tests.permissions.walk import url_patterns

    suspicious = ("patient", "identifier", "ins", "nir", "ipp")
    bad = [
        str(p)
        for p in url_patterns()
        if any(word in p.route.lower().split("<")[-1] for word in suspicious) and "<" in p.route
    ]
    assert not bad, f"URL patterns that would carry a patient identifier: {bad}"


def test_a_500_report_shows_neither_the_posted_identifier_nor_local_variables(
    client: Client, actors: Actors, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from guidelines.rulepack import rulepack_load
    from tests.permissions.world import TEST_PACK

    rulepack_load(paths=[TEST_PACK], publish=True, label="Errors")
    settings.DEBUG = False

    def broken(*, patient: Any, **kwargs: Any) -> Any:
        identifier_in_a_local = patient.identifier  # noqa: F841 - the report must hide it
        raise RuntimeError("PACS exploded")

    monkeypatch.setattr("ordering.views.decision_make", broken)
    caught: dict[str, Any] = {}

    def capture(sender: Any, request: Any, **kwargs: Any) -> None:
        caught["request"], caught["exc_info"] = request, sys.exc_info()

    got_request_exception.connect(capture)
    try:
        client.raise_request_exception = False
        client.force_login(actors.alice)
        response = client.post(
            "/orders/new/",
            {
                "identifier_kind": "local",
                "identifier": IDENTIFIER,
                "birth_date": "1979-05-02",
                "sex": "F",
                "birth_name": "ESSAI",
                "given_names": "Camille",
                "postcode": "35000",
                "pregnancy": "no",
                "indication_code": "test-headache-sudden",
            },
        )
    finally:
        got_request_exception.disconnect(capture)
    assert response.status_code == 500
    assert IDENTIFIER not in response.content.decode()
    reporter = ExceptionReporter(caught["request"], *caught["exc_info"])
    text, html = reporter.get_traceback_text(), reporter.get_traceback_html()
    assert "PACS exploded" in text, "the report is the real one"
    assert IDENTIFIER not in text and IDENTIFIER not in html
    assert "1979-05-02" not in text
