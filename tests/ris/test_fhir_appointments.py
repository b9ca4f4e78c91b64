"""FHIR back to the centre: a booking at a centre whose slots come from its FHIR
server is created there as an Appointment (status booked, on the centre's Slot) with
its ServiceRequest, through the outbox; cancelling cancels them; the server's 201,
409 (slot gone) and 500 each lead where they must. A real HTTP server plays the
centre's FHIR server (tests/ris/fhir_receiver.py); real PostgreSQL, Redis, Orthanc."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat
from django.test import Client
from django.utils import timezone

from imaging_cds.models import AuditEvent
from ordering.centre_fhir.delivery import fhir_deliver_centre
from ordering.centre_fhir.resources import placer_system
from ordering.models import Order, OutboundKind, OutboundMessage, OutboundState
from ordering.ris.messages import placer_number
from ordering.tasks import outbox_dispatch_due
from scheduling.models import Booking, BookingStatus, Centre, Slot, SlotSource, SlotStatus
from scheduling.services.feeds import cache_write_quietly
from tests.actors import Actors
from tests.ris.conftest import sign
from tests.ris.fhir_receiver import FhirReceiver
from tests.scheduling.conftest import make_centre
from tests.workers import real_worker, wait_until
from tests.world import PATIENT_NAMES, FlowPacs

BUDGET = 30.0


@pytest.fixture
def receiver(settings: Any) -> Iterator[FhirReceiver]:
    # A deployment lists a feed server on loopback the same way (FEED_ALLOWED_HOSTS).
    settings.FEED_ALLOWED_HOSTS = ["127.0.0.1"]
    server = FhirReceiver().start()
    yield server
    server.stop()


def wire_fhir_centres(receiver: FhirReceiver) -> None:
    """Every demo centre publishes its slots on the receiver and takes Appointments."""
    Centre.objects.update(feed_url=receiver.url, fhir_appointments=True)
    Slot.objects.update(
        source=SlotSource.FHIR, external_id=Concat(Value("slot-"), Cast("pk", CharField()))
    )


def sign_next(client: Client, number: int) -> Order:
    """Sign, then refresh the availability cache as the commit would (these tests run
    in one transaction, where on_commit never fires), so the next order gets another slot."""
    order = sign(client, number)
    cache_write_quietly(list(Centre.objects.values_list("pk", flat=True)))
    return order


def deliver(message: OutboundMessage) -> OutboundMessage:
    fhir_deliver_centre(centre_id=message.centre_id, budget_seconds=BUDGET)
    message.refresh_from_db()
    return message


def book_message(order: Order) -> OutboundMessage:
    return OutboundMessage.objects.get(order=order, kind=OutboundKind.FHIR_BOOK)


def test_booking_creates_the_appointment_and_its_service_request_then_cancelling_cancels_them(
    alice: Client, world: FlowPacs, receiver: FhirReceiver
) -> None:
    wire_fhir_centres(receiver)
    order = sign(alice, 31)
    message = book_message(order)
    assert (message.state, message.attempts) == (OutboundState.QUEUED, 0)
    # No RIS endpoint here: the FHIR channel alone.
    assert OutboundMessage.objects.filter(order=order).count() == 1
    assert deliver(message).state == OutboundState.ACKNOWLEDGED

    [request] = receiver.resources("ServiceRequest")
    [appointment] = receiver.resources("Appointment")
    identifier = {"system": placer_system(), "value": placer_number(order)}
    assert {k: request["identifier"][0][k] for k in identifier} == identifier
    assert (request["status"], request["intent"]) == ("active", "order")
    assert request["code"]["coding"][0]["code"] == order.procedure.code
    patient = request["contained"][0]
    assert request["subject"] == {"reference": "#patient"}
    assert patient["name"][0]["family"] == PATIENT_NAMES["birth_name"]
    assert patient["identifier"][0]["value"] == order.patient_identifier
    booking = Order.objects.get(pk=order.pk).booking
    assert booking is not None
    assert appointment["status"] == "booked"
    assert appointment["slot"] == [
        {"reference": f"Slot/{s.external_id}"} for s in booking.run_slots
    ]
    assert appointment["basedOn"] == [{"reference": f"ServiceRequest/{request['id']}"}]
    assert appointment["participant"][0]["actor"]["identifier"]["value"] == order.patient_identifier
    assert {k: appointment["identifier"][0][k] for k in identifier} == identifier
    # Each create is conditional on the placer number: a resend finds, never duplicates.
    posts = [r for r in receiver.received if r.method == "POST"]
    assert all(
        r.if_none_exist == f"identifier={placer_system()}|{placer_number(order)}" for r in posts
    )
    OutboundMessage.objects.filter(pk=message.pk).update(
        state=OutboundState.SENT, last_attempt_at=timezone.now() - timedelta(hours=1)
    )
    assert deliver(message).state == OutboundState.ACKNOWLEDGED
    assert len(receiver.resources("Appointment")) == len(receiver.resources("ServiceRequest")) == 1

    assert alice.post(f"/orders/{order.pk}/cancel/").status_code == 302
    cancel = OutboundMessage.objects.get(order=order, kind=OutboundKind.FHIR_CANCEL)
    assert deliver(cancel).state == OutboundState.ACKNOWLEDGED
    [appointment] = receiver.resources("Appointment")
    [request] = receiver.resources("ServiceRequest")
    assert (appointment["status"], request["status"]) == ("cancelled", "revoked")
    page = html.unescape(alice.get(f"/orders/{order.pk}/").content.decode())
    assert "Rendez-vous (FHIR)" in page or "Appointment (FHIR)" in page


def test_the_servers_201_409_and_500_in_turn_are_acknowledged_released_and_retried(
    alice: Client, world: FlowPacs, receiver: FhirReceiver, settings: Any
) -> None:
    wire_fhir_centres(receiver)
    settings.OUTBOX_RETRY_BASE_SECONDS = 0.3
    receiver.script("201", "409", "500")
    first, second, third = (sign_next(alice, n) for n in (32, 33, 34))

    taken = Order.objects.get(pk=second.pk).booking
    assert taken is not None
    # One run delivers the centre's three bookings in order, answered 201, 409, 500.
    assert deliver(book_message(first)).state == OutboundState.ACKNOWLEDGED

    # 409: the slot is gone at the centre; our booking is released and the order says it.
    message = refused = book_message(second)
    assert message.state == OutboundState.REJECTED
    assert message.last_error.startswith("the centre no longer has this slot (HTTP 409")
    assert "Slot is not free" in message.last_error
    assert "the booking was released" in message.last_error
    second.refresh_from_db()
    assert second.booking is None
    assert Booking.objects.get(pk=taken.pk).status == BookingStatus.CANCELLED
    assert Slot.objects.get(pk=taken.slot_id).status == SlotStatus.WITHDRAWN
    assert AuditEvent.objects.filter(action="order.booking_released", reason="slot_gone").exists()
    page = html.unescape(alice.get(f"/orders/{second.pk}/").content.decode())
    assert "n’avait plus le créneau" in page or "no longer had the booked slot" in page
    assert "créneaux libres sur la même machine" in page or "slots on the same machine" in page
    assert f"/rdv/{second.booking_token}/" in page

    # 500: queued again with the reason and a later attempt.
    message = book_message(third)
    assert (message.state, message.attempts) == (OutboundState.QUEUED, 1)
    assert message.last_error == "HTTP 500"
    assert message.next_attempt_at > timezone.now()

    # Booked again from the booking page: the same message goes with the new booking.
    cache_write_quietly(list(Centre.objects.values_list("pk", flat=True)))
    rebook_page = alice.get(f"/rdv/{second.booking_token}/").content.decode()
    slot_id = int(re.findall(r'name="slot_id" value="(\d+)"', rebook_page)[0])
    assert alice.post(f"/rdv/{second.booking_token}/", {"slot_id": slot_id}).status_code == 200
    again = book_message(second)
    assert (again.pk, again.state, again.attempts) == (refused.pk, OutboundState.QUEUED, 0)
    assert AuditEvent.objects.get(action="order.book").detail["by_patient"] is False
    assert deliver(again).state == OutboundState.ACKNOWLEDGED
    # The 500 is delivered on its retry.
    OutboundMessage.objects.filter(pk=third.outbound_messages.get().pk).update(
        next_attempt_at=timezone.now()
    )
    assert deliver(book_message(third)).state == OutboundState.ACKNOWLEDGED
    assert len(receiver.resources("Appointment")) == 3
    assert alice.get(f"/orders/{second.pk}/").content.decode().count("no longer had") == 0


@pytest.mark.parametrize(
    ("answer", "reason"),
    [("huge", "the answer is larger than"), ("garbage", "HTTP 201: the answer is not JSON")],
)
def test_a_broken_answer_is_retried_with_the_reason_then_failed(
    alice: Client, world: FlowPacs, receiver: FhirReceiver, settings: Any, answer: str, reason: str
) -> None:
    wire_fhir_centres(receiver)
    settings.OUTBOX_MAX_ATTEMPTS = 2
    settings.AVAILABILITY_FEED_MAX_PAGE_BYTES = 65536
    receiver.script(answer, answer)
    message = deliver(book_message(sign(alice, 35)))
    assert (message.state, message.attempts) == (OutboundState.QUEUED, 1)
    assert message.last_error.startswith(reason)
    OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    message = deliver(message)
    assert (message.state, message.attempts) == (OutboundState.FAILED, 2)
    assert alice.get(f"/orders/{message.order_id}/").status_code == 200


def test_a_server_the_outbound_rule_refuses_is_never_contacted(
    alice: Client, world: FlowPacs, receiver: FhirReceiver, settings: Any
) -> None:
    wire_fhir_centres(receiver)
    settings.FEED_ALLOWED_HOSTS = []
    message = deliver(book_message(sign(alice, 36)))
    assert message.state == OutboundState.REJECTED
    assert message.last_error.startswith("the centre's FHIR URL is refused")
    assert not receiver.received


def test_a_centre_that_does_not_take_appointments_gets_none(
    alice: Client, world: FlowPacs, receiver: FhirReceiver
) -> None:
    wire_fhir_centres(receiver)
    Centre.objects.update(fhir_appointments=False)
    order = sign(alice, 37)
    alice.post(f"/orders/{order.pk}/cancel/")
    assert not OutboundMessage.objects.filter(order=order).exists()


@pytest.fixture
def worker(redis_url: str, transactional_db: None, clear_cache: None) -> Iterator[None]:
    with real_worker(redis_url, reporting=[outbox_dispatch_due], pool="threads", concurrency=3):
        yield


@pytest.mark.celery_worker
def test_a_real_worker_retries_a_500_with_backoff_until_the_appointment_is_created(
    alice: Client, world: FlowPacs, receiver: FhirReceiver, fast_retries: None, worker: None
) -> None:
    wire_fhir_centres(receiver)
    receiver.script("500", "500")
    order = sign(alice, 38)
    assert wait_until(
        lambda: OutboundMessage.objects.filter(
            order=order, state=OutboundState.ACKNOWLEDGED, attempts=3
        ).exists()
    ), list(OutboundMessage.objects.values_list("state", "attempts", "last_error"))
    [appointment] = receiver.resources("Appointment")
    assert appointment["status"] == "booked"
    alice.post(f"/orders/{order.pk}/cancel/")
    assert wait_until(
        lambda: OutboundMessage.objects.filter(
            order=order, kind=OutboundKind.FHIR_CANCEL, state=OutboundState.ACKNOWLEDGED
        ).exists()
    )
    assert receiver.resources("Appointment")[0]["status"] == "cancelled"


def test_a_manager_turns_appointments_on_only_with_a_fhir_server(
    actors: Actors, settings: Any
) -> None:
    centre = make_centre("Imagerie de Carol")
    centre.managers.add(actors.carol)
    manager = Client(HTTP_ACCEPT_LANGUAGE="fr")
    manager.force_login(actors.carol)
    data = {
        "name": centre.name,
        "kind": "private",
        "price_sector": "sector_1",
        "address": "1 rue",
        "postcode": "35000",
        "town": "Rennes",
        "latitude": "48.1",
        "longitude": "-1.6",
        "feed_interval_seconds": "300",
        "fhir_appointments": "on",
    }
    refused = manager.post(f"/centres/{centre.pk}/edit/", data).content.decode()
    assert 'id="id_fhir_appointments_error"' in refused
    assert not Centre.objects.get(pk=centre.pk).fhir_appointments
    settings.FEED_ALLOWED_HOSTS = ["fhir.centre.example"]
    data["feed_url"] = "https://fhir.centre.example/r4"
    assert manager.post(f"/centres/{centre.pk}/edit/", data).status_code == 302
    assert Centre.objects.get(pk=centre.pk).fhir_appointments
