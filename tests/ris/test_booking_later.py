"""An order signed without a booking and booked later from the patient's booking page:
the booking and the new-order message are written together, and the RIS (a real MLLP
listener) receives the new order, then the cancellation. Real PostgreSQL, Redis and
Orthanc (the signing's prior-exam lookup)."""

from __future__ import annotations

import html
import re

from django.test import Client

from imaging_cds.models import AuditEvent
from ordering.decision import procedure_need
from ordering.models import Consultation, Order, OutboundKind, OutboundMessage, OutboundState
from ordering.outbox import outbox_deliver_centre
from ordering.ris.messages import placer_number
from scheduling.models import Booking, Slot, SlotStatus
from scheduling.services.booking import slot_book
from tests.actors import Actors
from tests.ordering.test_flow import PATIENT
from tests.ris.conftest import wire_centres
from tests.ris.mllp_listener import MllpListener
from tests.world import PATIENT_NAMES, FlowPacs

BUDGET = 30.0


def sign_later(client: Client, number: int) -> Order:
    data = {**PATIENT, "identifier": f"TESTRIS{number:03d}", "indication_code": "breast-lump"}
    response = client.post("/orders/new/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    match = re.search(r"/orders/c/([0-9a-f-]{36})/", response["Location"])
    assert match
    consultation = Consultation.objects.get(pk=match.group(1))
    signed = client.post(
        f"/orders/c/{consultation.pk}/sign/", {"procedure_code": "us-breast", "booking": "later"}
    )
    assert signed.status_code == 302, signed.content.decode()[:2000]
    return Order.objects.get(consultation=consultation)


def offered_slot_ids(page: str) -> list[int]:
    return [int(v) for v in re.findall(r'name="slot_id" value="(\d+)"', page)]


def deliver(message: OutboundMessage) -> OutboundMessage:
    outbox_deliver_centre(centre_id=message.centre_id, budget_seconds=BUDGET)
    message.refresh_from_db()
    return message


def test_booking_later_from_the_patients_page_sends_the_new_order_then_the_cancellation(
    alice: Client, world: FlowPacs, listener: MllpListener
) -> None:
    wire_centres(listener.port)
    order = sign_later(alice, 21)
    # Signed without a booking: no centre to tell yet.
    assert not OutboundMessage.objects.filter(order=order).exists()
    patient = Client()
    page = patient.get(f"/rdv/{order.booking_token}/").content.decode()
    slot_id = offered_slot_ids(page)[0]

    booked = patient.post(f"/rdv/{order.booking_token}/", {"slot_id": slot_id})
    assert booked.status_code == 200
    body = html.unescape(booked.content.decode())
    assert "Votre examen est réservé" in body or "Your exam is booked" in body
    for name in PATIENT_NAMES.values():
        assert name not in body
    order.refresh_from_db()
    assert order.booking is not None and order.booking.slot_id == slot_id
    assert Slot.objects.get(pk=slot_id).status == SlotStatus.BOOKED
    event = AuditEvent.objects.get(action="order.book")
    assert event.detail == {"booking_id": order.booking_id, "by_patient": True}
    new = OutboundMessage.objects.get(order=order)
    assert (new.kind, new.state) == (OutboundKind.NEW, OutboundState.QUEUED)
    assert new.centre_id == order.booking.slot.equipment.centre_id
    assert deliver(new).state == OutboundState.ACKNOWLEDGED
    # Booked: the token opens no booking page any more, and booking again does nothing.
    assert patient.get(f"/rdv/{order.booking_token}/").status_code == 404
    assert patient.post(f"/rdv/{order.booking_token}/", {"slot_id": slot_id}).status_code == 404

    assert alice.post(f"/orders/{order.pk}/cancel/").status_code == 302
    cancel = OutboundMessage.objects.get(order=order, kind=OutboundKind.CANCEL)
    assert deliver(cancel).state == OutboundState.ACKNOWLEDGED
    assert not listener.state.parse_errors
    assert [(r.order_control, r.placer_number) for r in listener.received] == [
        ("NW", placer_number(order)),
        ("CA", placer_number(order)),
    ]
    assert Slot.objects.get(pk=slot_id).status == SlotStatus.FREE


def test_a_slot_taken_meanwhile_books_nothing_and_queues_nothing(
    alice: Client, world: FlowPacs, listener: MllpListener, actors: Actors
) -> None:
    wire_centres(listener.port)
    order = sign_later(alice, 22)
    patient = Client()
    slot_id = offered_slot_ids(patient.get(f"/rdv/{order.booking_token}/").content.decode())[0]
    # Someone else books it first, the way the prescribers' pages do.
    other = slot_book(slot_id=slot_id, user=actors.bob, procedure=procedure_need(order.procedure))
    response = patient.post(f"/rdv/{order.booking_token}/", {"slot_id": slot_id})
    assert response.status_code == 409
    body = html.unescape(response.content.decode())
    assert "vient d’être pris" in body or "has just been taken" in body
    assert Order.objects.get(pk=order.pk).booking is None
    assert list(Booking.objects.all()) == [other]
    assert not OutboundMessage.objects.exists()
    assert not listener.received


def test_a_cancelled_order_cannot_be_booked_from_its_page(
    alice: Client, world: FlowPacs, listener: MllpListener
) -> None:
    wire_centres(listener.port)
    order = sign_later(alice, 23)
    patient = Client()
    slot_id = offered_slot_ids(patient.get(f"/rdv/{order.booking_token}/").content.decode())[0]
    alice.post(f"/orders/{order.pk}/cancel/")
    assert patient.post(f"/rdv/{order.booking_token}/", {"slot_id": slot_id}).status_code == 410
    assert not Booking.objects.exists()
    assert not OutboundMessage.objects.exists()
