"""Signing signs what was decided, for whom it was decided: the same patient, an exam
the decision offers, a slot that can perform it, and a rating that still holds on
the prior exams the PACS has at signing (real PostgreSQL, Redis and Orthanc)."""

from __future__ import annotations

import html
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
from django.test import Client
from django.utils import timezone

from imaging_cds.models import AuditEvent
from ordering.demo_studies import DEMO_ISSUER
from ordering.models import Order
from scheduling.models import Booking, Equipment, Slot, SlotStatus
from tests.actors import Actors
from tests.ordering.test_flow import consultation_of, first_slot
from tests.orthanc import study_file
from tests.patients import NEW_PRIOR_PATIENTS
from tests.world import API_PATIENT, API_PATIENT_NAMES, PATIENT_NAMES, FlowPacs

PATIENT = API_PATIENT


@pytest.fixture
def alice(client: Client, actors: Actors) -> Client:
    client.force_login(actors.alice)
    return client


def evaluate(client: Client, auth: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = {"patient": PATIENT, "indication_code": "breast-lump", **changes}
    response = client.post("/api/v1/evaluate", body, content_type="application/json", **auth)
    assert response.status_code == 201, response.content
    result: dict[str, Any] = response.json()
    return result


def sign(
    client: Client, auth: dict[str, Any], consultation: str, slot_id: int, code: str, **who: Any
) -> Any:
    identity = {
        "patient_identifier": PATIENT["identifier"],
        "patient_identifier_kind": PATIENT["identifier_kind"],
        "patient_birth_date": PATIENT["birth_date"],
        "patient_sex": PATIENT["sex"],
        **API_PATIENT_NAMES,
        **who,
    }
    body = {"consultation": consultation, "slot_id": slot_id, "procedure_code": code, **identity}
    return client.post("/api/v1/orders", body, content_type="application/json", **auth)


def first_option(decision: dict[str, Any]) -> tuple[int, str]:
    option = next(o for o in decision["options"] if o["slot_id"])
    return option["slot_id"], option["procedure_code"]


def nothing_signed(slot_id: int) -> None:
    assert not Order.objects.exists()
    assert not Booking.objects.exists()
    assert Slot.objects.get(pk=slot_id).status == SlotStatus.FREE


def test_an_api_client_cannot_sign_one_patients_decision_for_another(
    client: Client, emr: dict[str, Any], world: FlowPacs
) -> None:
    decision = evaluate(client, emr)
    slot_id, code = first_option(decision)
    other = sign(
        client, emr, decision["consultation_id"], slot_id, code, patient_identifier="OTHER01"
    )
    assert other.status_code == 400
    assert other.json()["error"]["fields"]["patient_identifier"]
    nothing_signed(slot_id)
    # Same identifier, another sex or birth date: not the patient the decision was for.
    for changed in ({"patient_sex": "M"}, {"patient_birth_date": "1950-05-02"}):
        response = sign(client, emr, decision["consultation_id"], slot_id, code, **changed)
        assert response.status_code == 400, changed
    nothing_signed(slot_id)
    signed = sign(client, emr, decision["consultation_id"], slot_id, code)
    assert signed.status_code == 201, signed.content


def test_a_slot_on_a_machine_that_cannot_perform_the_exam_is_refused(
    client: Client, emr: dict[str, Any], alice: Client, world: FlowPacs
) -> None:
    decision = evaluate(client, emr)
    _slot_id, code = first_option(decision)
    assert code == "us-breast"
    ct = Slot.objects.filter(
        status=SlotStatus.FREE, equipment__modality="CT", start__gt=timezone.now()
    ).first()
    assert ct is not None
    response = sign(client, emr, decision["consultation_id"], ct.pk, code)
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["slot_id"]
    nothing_signed(ct.pk)
    # The page refuses the same slot at the hold and at the signature.
    consultation = consultation_of(
        alice.post("/orders/new/", {**PATIENT, **PATIENT_NAMES, "indication_code": "breast-lump"})
    )
    for step in ("hold", "sign"):
        refused = alice.post(
            f"/orders/c/{consultation.pk}/{step}/", {"slot_id": ct.pk, "procedure_code": code}
        )
        assert refused.status_code == 400, step
        assert "appareil" in html.unescape(refused.content.decode()), step
    nothing_signed(ct.pk)


def test_a_slot_never_offered_is_refused(
    client: Client, emr: dict[str, Any], world: FlowPacs
) -> None:
    decision = evaluate(client, emr)
    slot_id, code = first_option(decision)
    machine = Slot.objects.get(pk=slot_id).equipment
    # A slot of the right machine, far beyond the horizon the search offers.
    start = timezone.now() + timedelta(days=400)
    far = Slot.objects.create(equipment=machine, start=start, end=start + timedelta(minutes=30))
    response = sign(client, emr, decision["consultation_id"], far.pk, code)
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["slot_id"]
    nothing_signed(far.pk)


def test_an_exam_the_decision_does_not_offer_cannot_be_held_or_signed(
    client: Client, emr: dict[str, Any], world: FlowPacs
) -> None:
    decision = evaluate(client, emr, indication_code="low-back-pain-acute")
    assert decision["no_imaging_indicated"] is True
    xray = Slot.objects.filter(
        status=SlotStatus.FREE, equipment__modality="DX", start__gt=timezone.now()
    ).first()
    assert xray is not None
    response = sign(client, emr, decision["consultation_id"], xray.pk, "dx-lumbar-spine")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["procedure_code"]
    hold = client.post(
        "/api/v1/holds",
        {
            "consultation": decision["consultation_id"],
            "slot_id": xray.pk,
            "procedure_code": "dx-lumbar-spine",
        },
        content_type="application/json",
        **emr,
    )
    assert hold.status_code == 400
    nothing_signed(xray.pk)


@pytest.fixture
def new_prior(world: FlowPacs) -> Iterator[Any]:
    """Puts a mammogram of 30 days ago in the real Orthanc for a patient, on demand;
    removes it after the test (the Orthanc is shared by the session)."""
    studies: list[str] = []

    def add(patient_id: str) -> None:
        day = (timezone.localdate() - timedelta(days=30)).strftime("%Y%m%d")
        dicom = study_file(
            patient_id=patient_id,
            issuer=DEMO_ISSUER,
            study_date=day,
            modality="MG",
            description="MAMMOGRAPHIE BILATERALE",
            body_part="BREAST",
            institution="Imagerie du Thabor",
        )
        response = requests.post(f"{world.server.url}/instances", data=dicom, timeout=10)
        response.raise_for_status()
        studies.append(response.json()["ParentStudy"])

    yield add
    for study in studies:
        requests.delete(f"{world.server.url}/studies/{study}", timeout=10)


SCREENING = {"birth_date": "1958-04-12", "indication_code": "breast-screening-average-risk"}


def test_a_prior_exam_found_at_signing_stops_the_rest_signature_with_alternatives(
    client: Client, emr: dict[str, Any], new_prior: Any
) -> None:
    patient_id = NEW_PRIOR_PATIENTS[0]
    patient = {**PATIENT, "identifier": patient_id, "birth_date": SCREENING["birth_date"]}
    decision = evaluate(client, emr, patient=patient, indication_code=SCREENING["indication_code"])
    mammogram = next(r for r in decision["ratings"] if r["procedure_code"] == "mg-breast")
    assert mammogram["redundancy"] is None
    slot_id, code = first_option(decision)
    assert code == "mg-breast"
    new_prior(patient_id)
    response = sign(
        client,
        emr,
        decision["consultation_id"],
        slot_id,
        code,
        patient_identifier=patient_id,
        patient_birth_date=SCREENING["birth_date"],
    )
    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert error["code"] == "decision_changed"
    assert "30" in error["message"]
    assert all(a["procedure_code"] != "mg-breast" for a in error["alternatives"])
    nothing_signed(slot_id)
    assert AuditEvent.objects.filter(action="order.sign_refused").count() == 1


def test_a_prior_exam_found_at_signing_is_shown_on_the_page_and_nothing_is_booked(
    alice: Client, new_prior: Any
) -> None:
    patient_id = NEW_PRIOR_PATIENTS[1]
    consultation = consultation_of(
        alice.post(
            "/orders/new/",
            {**PATIENT, **PATIENT_NAMES, **SCREENING, "identifier": patient_id},
        )
    )
    page = alice.get(f"/orders/c/{consultation.pk}/").content.decode()
    slot_id, code = first_slot(page)
    assert code == "mg-breast"
    new_prior(patient_id)
    refused = alice.post(
        f"/orders/c/{consultation.pk}/sign/", {"slot_id": slot_id, "procedure_code": code}
    )
    assert refused.status_code == 409
    body = html.unescape(refused.content.decode())
    assert "30" in body and "/orders/new/" in body
    nothing_signed(int(slot_id))


def test_signing_books_only_on_a_machine_that_fits_the_patient(
    client: Client, emr: dict[str, Any], world: FlowPacs
) -> None:
    decision = evaluate(client, emr, patient={**PATIENT, "weight_kg": 140})
    slot_id, code = first_option(decision)
    # The machine offered took 140 kg; its table is now found to take 120 at most.
    machine = Slot.objects.get(pk=slot_id).equipment
    Equipment.objects.filter(pk=machine.pk).update(table_max_weight_kg=120)
    response = sign(client, emr, decision["consultation_id"], slot_id, code)
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["slot_id"]
    nothing_signed(slot_id)
