"""The prescriber's flow through the pages, on real PostgreSQL, Redis and Orthanc."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from imaging_cds.models import AuditEvent
from ordering.models import Consultation, Order
from scheduling.models import Booking, Slot, SlotStatus
from tests.actors import Actors
from tests.orthanc import free_port
from tests.world import PATIENT_NAMES, WITH_MAMMOGRAM, WITHOUT_PRIORS, FlowPacs

PATIENT = {
    "identifier_kind": "local",
    "identifier": WITHOUT_PRIORS,
    "birth_date": "1979-05-02",
    "sex": "F",
    "postcode": "35000",
    "pregnancy": "no",
    "weight_kg": "64",
    "egfr": "95",
    **PATIENT_NAMES,
}


def start(client: Client, indication: str, **changes: Any) -> Any:
    data = {**PATIENT, **changes, "indication_code": indication}
    return client.post("/orders/new/", data)


def consultation_of(response: Any) -> Consultation:
    assert response.status_code == 302, response.content.decode()[:2000]
    match = re.search(r"/orders/c/([0-9a-f-]{36})/", response["Location"])
    assert match
    return Consultation.objects.get(pk=match.group(1))


def first_slot(page: str) -> tuple[str, str]:
    """The first "Choose" form's slot and exam, read together: an exam with no free
    slot right now still has a sign-later form whose procedure_code comes first."""
    found = re.search(
        r'name="slot_id" value="(\d+)">\s*<input type="hidden" name="procedure_code"'
        r' value="([a-z0-9-]+)"',
        page,
    )
    assert found, "no bookable option on the page"
    return found.group(1), found.group(2)


@pytest.fixture
def alice(client: Client, actors: Actors) -> Client:
    client.force_login(actors.alice)
    return client


def test_an_indicated_exam_is_rated_held_signed_and_printable(
    alice: Client, world: FlowPacs, actors: Actors
) -> None:
    consultation = consultation_of(start(alice, "breast-lump", birth_date="1979-05-02"))
    assert consultation.prescriber == actors.alice
    assert consultation.rule_set_version == 1
    assert WITHOUT_PRIORS not in str(consultation.inputs) + str(consultation.outputs)
    page = alice.get(f"/orders/c/{consultation.pk}/").content.decode()
    assert "Échographie mammaire" in page and "Indiqué" in page
    assert "Aucun antécédent" in page or "No prior" in page
    slot_id, code = first_slot(page)
    held = alice.post(
        f"/orders/c/{consultation.pk}/hold/", {"slot_id": slot_id, "procedure_code": code}
    )
    assert held.status_code == 200
    assert Slot.objects.get(pk=slot_id).status == SlotStatus.HELD
    signed = alice.post(
        f"/orders/c/{consultation.pk}/sign/", {"slot_id": slot_id, "procedure_code": code}
    )
    assert signed.status_code == 302
    order = Order.objects.get(consultation=consultation)
    assert order.booking is not None and order.booking.slot_id == int(slot_id)
    assert Slot.objects.get(pk=slot_id).status == SlotStatus.BOOKED
    sheet = alice.get(signed["Location"]).content.decode()
    # The printed order names the patient for the centre and carries no technical id.
    assert WITHOUT_PRIORS in sheet
    assert PATIENT_NAMES["birth_name"] in sheet and PATIENT_NAMES["given_names"] in sheet
    assert str(consultation.pk) not in sheet.split('class="no-print')[0]
    assert "print.css" in sheet
    assert str(order.pk) in alice.get("/orders/").content.decode()
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"consultation.create", "consultation.read", "order.sign", "order.read"} <= actions
    # Cancelling the order releases the slot.
    alice.post(f"/orders/{order.pk}/cancel/")
    order.refresh_from_db()
    assert order.status == "cancelled"
    assert Slot.objects.get(pk=slot_id).status == SlotStatus.FREE


def test_when_no_imaging_is_indicated_the_page_leads_with_that_not_with_slots(
    alice: Client, world: FlowPacs
) -> None:
    consultation = consultation_of(start(alice, "low-back-pain-acute", sex="M", pregnancy="no"))
    assert consultation.outputs["no_imaging_indicated"] is True
    page = alice.get(f"/orders/c/{consultation.pk}/").content.decode()
    assert "Aucune imagerie n’est indiquée" in page
    assert 'name="slot_id"' not in page
    assert "Source" in page


def test_a_recent_prior_exam_is_found_in_the_pacs_and_flags_the_exam_redundant(
    alice: Client, world: FlowPacs
) -> None:
    consultation = consultation_of(
        start(
            alice,
            "breast-screening-average-risk",
            identifier=WITH_MAMMOGRAM,
            birth_date="1960-03-01",
        )
    )
    priors = consultation.outputs["priors"]
    assert priors["status"] == "ok"
    assert [s["description"] for s in priors["studies"]] == ["MAMMOGRAPHIE BILATERALE"]
    rating = consultation.outputs["ratings"][0]
    assert rating["procedure_code"] == "mg-breast"
    assert rating["redundancy"]["days_ago"] == 420
    page = alice.get(f"/orders/c/{consultation.pk}/").content.decode()
    assert "redondant" in page and "420" in page


def test_a_pacs_that_is_down_gives_a_decision_that_says_prior_exams_are_unavailable(
    alice: Client, world: FlowPacs, settings: Any
) -> None:
    from dataclasses import replace

    settings.PACS_NODES = [replace(world.node(), port=free_port())]
    consultation = consultation_of(start(alice, "breast-lump"))
    assert consultation.outputs["priors"]["status"] == "unavailable"
    page = alice.get(f"/orders/c/{consultation.pk}/").content.decode()
    assert "Antériorités indisponibles" in page or "Prior exams unavailable" in page
    assert consultation.outputs["ratings"], "the decision still arrives"


def test_a_slot_taken_between_hold_and_confirm_offers_the_next_ones(
    alice: Client, world: FlowPacs, actors: Actors
) -> None:
    from scheduling.availability import ProcedureNeed
    from scheduling.services.booking import slot_book

    consultation = consultation_of(start(alice, "breast-lump"))
    page = alice.get(f"/orders/c/{consultation.pk}/").content.decode()
    slot_id, code = first_slot(page)
    assert (
        alice.post(
            f"/orders/c/{consultation.pk}/hold/", {"slot_id": slot_id, "procedure_code": code}
        ).status_code
        == 200
    )
    # The hold is alice's; bob's secretary books the slot on the phone once it lapses.
    # The whole run held with the slot lapses (an exam longer than one slot holds several).
    Slot.objects.filter(run_head=int(slot_id)).update(held_until="2000-01-01T00:00:00Z")
    slot_book(slot_id=int(slot_id), user=actors.bob, procedure=ProcedureNeed(code, "US"))
    taken = alice.post(
        f"/orders/c/{consultation.pk}/sign/", {"slot_id": slot_id, "procedure_code": code}
    )
    assert taken.status_code == 409
    body = taken.content.decode()
    assert "vient d’être pris" in body or "just been taken" in body
    assert body.count('name="slot_id"') >= 1
    assert not Order.objects.filter(consultation=consultation).exists()
    assert Booking.objects.filter(slot_id=slot_id, status="booked").count() == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("identifier", "185077512345609"),
        ("birth_date", "2999-01-01"),
        ("sex", "X"),
        ("postcode", "9999"),
        ("pregnancy", "maybe"),
        ("weight_kg", "0"),
        ("egfr", "abc"),
    ],
)
def test_bad_input_is_refused_next_to_its_field_and_nothing_is_recorded(
    alice: Client, world: FlowPacs, field: str, value: str
) -> None:
    changes = {field: value}
    if field == "identifier":
        changes["identifier_kind"] = "ins"
    response = start(alice, "breast-lump", **changes)
    assert response.status_code == 400
    page = response.content.decode()
    assert f'id="id_{field}-error"' in page
    assert not Consultation.objects.exists()


def test_an_unknown_indication_is_refused_with_a_clear_message(
    alice: Client, world: FlowPacs
) -> None:
    response = start(alice, "not-a-real-indication")
    assert response.status_code == 400
    assert "Choisissez le motif clinique" in response.content.decode()


def test_another_prescriber_cannot_see_or_act_on_a_consultation_or_order(
    alice: Client, world: FlowPacs, actors: Actors
) -> None:
    consultation = consultation_of(start(alice, "breast-lump"))
    other = Client()
    other.force_login(actors.bob)
    assert other.get(f"/orders/c/{consultation.pk}/").status_code == 404
    assert other.post(f"/orders/c/{consultation.pk}/hold/", {"slot_id": "1"}).status_code == 404
    editor = Client()
    editor.force_login(actors.erin)
    assert editor.get(f"/orders/c/{consultation.pk}/").status_code == 403


def test_the_identifier_never_appears_in_a_url_a_redirect_or_a_link_of_the_flow(
    alice: Client, world: FlowPacs
) -> None:
    started = start(alice, "breast-lump")
    consultation = consultation_of(started)
    assert WITHOUT_PRIORS not in started["Location"]
    page = alice.get(started["Location"]).content.decode()
    slot_id, code = first_slot(page)
    links = re.findall(r'(?:href|action|hx-get|hx-post)="([^"]*)"', page)
    assert links and not [link for link in links if WITHOUT_PRIORS in link]
    alice.post(f"/orders/c/{consultation.pk}/hold/", {"slot_id": slot_id, "procedure_code": code})
    signed = alice.post(
        f"/orders/c/{consultation.pk}/sign/", {"slot_id": slot_id, "procedure_code": code}
    )
    assert WITHOUT_PRIORS not in signed["Location"]
    sheet = alice.get(signed["Location"]).content.decode()
    links = re.findall(r'(?:href|action|hx-get|hx-post)="([^"]*)"', sheet)
    assert not [link for link in links if WITHOUT_PRIORS in link]
    # Every access on the way left a record, with the pseudonym and never the identifier.
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"priors.lookup", "booking.create", "consultation.create", "order.sign"} <= actions
    refs = set(AuditEvent.objects.exclude(patient_ref="").values_list("patient_ref", flat=True))
    assert refs == {consultation.patient_ref}
    assert not AuditEvent.objects.filter(detail__icontains=WITHOUT_PRIORS).exists()


def test_in_english_the_exam_facts_line_is_english_too(alice: Client, world: FlowPacs) -> None:
    consultation = consultation_of(start(alice, "breast-lump"))
    alice.cookies["django_language"] = "en"
    page = alice.get(f"/orders/c/{consultation.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Dose class: 0 (no ionising radiation)" in page
    assert "Evidence:" in page
    assert "Classe de dose" not in page and "Niveau de preuve" not in page
