"""Checks before an order is signed, the same for the page and REST: a pregnancy
that must be answered first, and an identical order signed a moment ago (real
PostgreSQL, Redis and Orthanc)."""

from __future__ import annotations

import html
from datetime import date
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from imaging_cds.models import AuditEvent
from ordering.models import Order
from tests.actors import Actors
from tests.ehr.test_signing_enforces_the_decision import evaluate, sign
from tests.ordering.test_flow import consultation_of, first_slot
from tests.world import API_PATIENT, PATIENT_NAMES, FlowPacs

IONISING_ABDOMEN = {"CT", "DX"}


@pytest.fixture
def alice(client: Client, actors: Actors) -> Client:
    client.force_login(actors.alice)
    return client


def _abdominal_ionising_option(decision: dict[str, Any]) -> tuple[int, str]:
    ionising = {
        r["procedure_code"]
        for r in decision["ratings"]
        if r["modality"] in IONISING_ABDOMEN and r["procedure_code"].startswith("ct-abdomen")
    }
    option = next(
        o for o in decision["options"] if o["slot_id"] and o["procedure_code"] in ionising
    )
    return option["slot_id"], option["procedure_code"]


def test_pregnancy_must_be_answered_before_an_ionising_abdominal_exam(
    client: Client, emr: dict[str, Any], world: FlowPacs
) -> None:
    decision = evaluate(
        client,
        emr,
        patient={**API_PATIENT, "pregnancy": "unknown"},
        indication_code="abdominal-pain-acute-adult",
    )
    slot_id, code = _abdominal_ionising_option(decision)
    refused = sign(client, emr, decision["consultation_id"], slot_id, code)
    assert refused.status_code == 400, refused.content
    message = " ".join(refused.json()["error"]["fields"]["procedure_code"])
    assert "12" in message and "55" in message
    assert not Order.objects.exists()
    # Answered "no": the same exam is signed.
    answered = evaluate(client, emr, indication_code="abdominal-pain-acute-adult")
    slot_id, code = _abdominal_ionising_option(answered)
    signed = sign(client, emr, answered["consultation_id"], slot_id, code)
    assert signed.status_code == 201, signed.content


def test_the_page_asks_sex_and_the_pregnancy_of_a_woman_of_childbearing_age(
    alice: Client, world: FlowPacs
) -> None:
    page = alice.get("/orders/new/").content.decode()
    # Neither sex nor pregnancy comes pre-selected.
    assert '<option value="F" selected>' not in page
    assert '<option value="unknown" selected>' not in page
    no_sex = {
        **API_PATIENT,
        **PATIENT_NAMES,
        "sex": "",
        "pregnancy": "",
        "indication_code": "breast-lump",
    }
    response = alice.post("/orders/new/", no_sex)
    assert response.status_code == 400
    woman = {**API_PATIENT, **PATIENT_NAMES, "pregnancy": "", "indication_code": "breast-lump"}
    response = alice.post("/orders/new/", woman)
    assert response.status_code == 400
    text = html.unescape(response.content.decode())
    assert "12" in text and "55" in text
    man = {
        **API_PATIENT,
        **PATIENT_NAMES,
        "sex": "M",
        "pregnancy": "",
        "indication_code": "low-back-pain-acute",
    }
    consultation_of(alice.post("/orders/new/", man))


def test_an_identical_order_signed_moments_ago_is_a_question(
    client: Client, emr: dict[str, Any], alice: Client, world: FlowPacs
) -> None:
    first = evaluate(client, emr)
    option = next(o for o in first["options"] if o["slot_id"])
    code = option["procedure_code"]
    assert sign(client, emr, first["consultation_id"], option["slot_id"], code).status_code == 201
    again = evaluate(client, emr)
    # Another free slot than the one just booked (the cache may still list that one).
    slot_id = next(
        o["slot_id"]
        for o in again["options"]
        if o["slot_id"] and o["procedure_code"] == code and o["slot_id"] != option["slot_id"]
    )
    duplicate = sign(client, emr, again["consultation_id"], slot_id, code)
    assert duplicate.status_code == 409, duplicate.content
    error = duplicate.json()["error"]
    assert error["code"] == "duplicate_order"
    assert error["prior_date"]
    assert Order.objects.count() == 1
    # The page asks the same question, with the earlier order's date.
    consultation = consultation_of(
        alice.post(
            "/orders/new/", {**API_PATIENT, **PATIENT_NAMES, "indication_code": "breast-lump"}
        )
    )
    page = alice.get(f"/orders/c/{consultation.pk}/").content.decode()
    page_slot, page_code = first_slot(page)
    assert page_code == code
    asked = alice.post(
        f"/orders/c/{consultation.pk}/sign/", {"slot_id": page_slot, "procedure_code": code}
    )
    assert asked.status_code == 409
    assert 'name="confirm_duplicate"' in asked.content.decode()
    assert Order.objects.count() == 1
    # Confirmed: signed, and the audit says the repeat was meant.
    confirmed = sign(client, emr, again["consultation_id"], slot_id, code, confirm_duplicate=True)
    assert confirmed.status_code == 201, confirmed.content
    assert Order.objects.count() == 2
    event = AuditEvent.objects.filter(action="order.sign").latest("pk")
    assert event.detail.get("repeat_confirmed") is True


def test_the_patient_is_not_typed_twice_and_the_red_flags_can_be_changed(
    alice: Client, actors: Actors, world: FlowPacs
) -> None:
    # The birth date is typed day/month/year whatever the browser's language.
    typed = {
        **API_PATIENT,
        **PATIENT_NAMES,
        "sex": "M",
        "pregnancy": "",
        "birth_date": "12/04/1958",
        "indication_code": "low-back-pain-acute",
    }
    consultation = consultation_of(alice.post("/orders/new/", typed))
    today = timezone.localdate()
    born = date(1958, 4, 12)
    expected_age = today.year - born.year - ((today.month, today.day) < (4, 12))
    assert consultation.inputs["patient"]["age_years"] == expected_age
    page = html.unescape(alice.get(f"/orders/c/{consultation.pk}/").content.decode())
    # No imaging for common acute low back pain: advice, when to come back, a way back.
    assert "Reconsultez" in page or "consultez à nouveau" in page.lower()
    assert f"?from={consultation.pk}&keep=indication" in page
    again = alice.get(f"/orders/new/?from={consultation.pk}&keep=indication")
    form = html.unescape(again.content.decode())
    assert again.status_code == 200
    assert API_PATIENT["identifier"] in form
    assert 'value="12/04/1958"' in form
    assert PATIENT_NAMES["birth_name"] in form
    assert 'value="low-back-pain-acute"' in form and "checked" in form
    # Another prescriber cannot open it.
    other = Client()
    other.force_login(actors.bob)
    assert other.get(f"/orders/new/?from={consultation.pk}").status_code == 404


def test_a_recent_patient_is_picked_not_typed(
    alice: Client, actors: Actors, world: FlowPacs
) -> None:
    consultation = consultation_of(
        alice.post(
            "/orders/new/", {**API_PATIENT, **PATIENT_NAMES, "indication_code": "breast-lump"}
        )
    )
    page = alice.get(f"/orders/c/{consultation.pk}/").content.decode()
    slot_id, code = first_slot(page)
    signed = alice.post(
        f"/orders/c/{consultation.pk}/sign/", {"slot_id": slot_id, "procedure_code": code}
    )
    assert signed.status_code == 302, signed.content.decode()[:500]
    order = Order.objects.get(consultation=consultation)
    form_page = html.unescape(alice.get("/orders/new/").content.decode())
    assert PATIENT_NAMES["birth_name"] in form_page
    assert f"?order={order.pk}" in form_page
    again = html.unescape(alice.get(f"/orders/new/?order={order.pk}").content.decode())
    assert API_PATIENT["identifier"] in again and PATIENT_NAMES["given_names"] in again
    # Pregnancy is asked again, never carried over from an earlier order.
    assert '<option value="no" selected>' not in again
    other = Client()
    other.force_login(actors.bob)
    assert other.get(f"/orders/new/?order={order.pk}").status_code == 404
    assert PATIENT_NAMES["birth_name"] not in other.get("/orders/new/").content.decode()
