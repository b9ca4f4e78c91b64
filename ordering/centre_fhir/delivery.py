"""Delivery of the FHIR messages of the outbox to the centres' servers.

Per centre, oldest first, like the RIS channel: a message waiting for its retry holds
back the later ones, so an order's cancellation never overtakes its booking. There is
no RIS endpoint row to lease here; instead each attempt claims its message with a
conditional write (state and attempt count unchanged since read), so two workers never
send the same message at once, and a message left ``sent`` by a worker that died is
claimed again once it is older than a task's time limit. A resend is harmless: the
booking is a conditional create on the placer number, the cancellation a search on it.

Outcomes: 200/201 acknowledged; 409/412 on the Appointment means the centre no longer
has the slot: our booking is released (the slots withdrawn until the feed says
otherwise) and the message rejected with the reason, which the order page turns into
"book again" with the next free slots; any other 4xx rejected with the server's
words; no answer, a 5xx, 408 or 429 queued again with backoff, failed after
OUTBOX_MAX_ATTEMPTS. Nothing here logs a payload or the server's words.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from imaging_cds.audit import audit_record
from ordering.centre_fhir.client import CentreFhir, FhirAnswer, FhirRefused, FhirUnavailable
from ordering.centre_fhir.resources import BookEnvelope, placer_system
from ordering.models import (
    FHIR_KINDS,
    Order,
    OrderStatus,
    OutboundKind,
    OutboundMessage,
    OutboundState,
)
from ordering.outbox import DeliveryRun, next_due, retry_backoff
from scheduling.models import Centre, Slot, SlotStatus
from scheduling.services.booking import booking_cancel

logger = logging.getLogger(__name__)

CONFLICT = (409, 412)


class SlotGone(Exception):
    """The centre refused the Appointment: its slot is no longer free."""


def _stale() -> timedelta:
    return timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 30)


def message_budget_seconds() -> float:
    # A booking is two requests, a cancellation up to four; one timeout each would
    # overrun the task's limit, so the message as a whole gets two.
    return 2 * settings.AVAILABILITY_FEED_TIMEOUT_SECONDS


def _created(client: CentreFhir, answer: FhirAnswer, resource_type: str) -> str:
    if answer.status not in (200, 201):
        words = answer.diagnostics()
        raise FhirRefused(
            f"{resource_type}: HTTP {answer.status}" + (f": {words}" if words else "")
        )
    return client.created_id(answer, resource_type)


def _book(message: OutboundMessage, client: CentreFhir) -> None:
    envelope = BookEnvelope.loads(message.payload)
    exists = {"If-None-Exist": f"identifier={placer_system()}|{message.placer_number}"}
    answer = client.request("POST", "ServiceRequest", body=envelope.service_request, **exists)
    request_id = _created(client, answer, "ServiceRequest")
    appointment = {
        **envelope.appointment,
        "basedOn": [{"reference": f"ServiceRequest/{request_id}"}],
    }
    answer = client.request("POST", "Appointment", body=appointment, **exists)
    if answer.status in CONFLICT:
        words = answer.diagnostics()
        raise SlotGone(f"HTTP {answer.status}" + (f": {words}" if words else ""))
    _created(client, answer, "Appointment")


def _cancel(message: OutboundMessage, client: CentreFhir) -> None:
    token = message.payload
    for resource_type, done, status in (
        ("Appointment", ("cancelled",), "cancelled"),
        ("ServiceRequest", ("revoked", "completed"), "revoked"),
    ):
        for resource in client.search_by_identifier(resource_type, token):
            if resource.get("status") in done:
                continue
            answer = client.request(
                "PUT", f"{resource_type}/{resource['id']}", body={**resource, "status": status}
            )
            _created(client, answer, resource_type)


def _release(message: OutboundMessage, reason: str) -> None:
    """The centre gave the slot to someone else: release our booking in one transaction
    with the message's rejection, so the order page says it and offers to re-book."""
    envelope = BookEnvelope.loads(message.payload)
    with transaction.atomic():
        order = (
            Order.objects.select_for_update()
            .select_related("consultation", "prescriber")
            .get(pk=message.order_id)
        )
        released = order.status == OrderStatus.SIGNED and order.booking_id == envelope.booking_id
        if released:
            booking_cancel(
                booking_id=envelope.booking_id,
                user=order.prescriber,
                patient_ref=order.consultation.patient_ref,
            )
            # Not offered again until the centre's feed lists the slot free again.
            Slot.objects.filter(pk__in=envelope.slot_ids, status=SlotStatus.FREE).update(
                status=SlotStatus.WITHDRAWN
            )
            order.booking = None
            order.save(update_fields=["booking"])
            audit_record(
                action="order.booking_released",
                object_type="order",
                object_id=order.pk,
                patient_ref=order.consultation.patient_ref,
                reason="slot_gone",
                detail={"booking_id": envelope.booking_id, "outbound_message_id": message.pk},
            )
        message.payload = dataclasses.replace(envelope, conflict=released).dumps()
        message.state = OutboundState.REJECTED
        message.last_error = (
            f"the centre no longer has this slot ({reason}); the booking was released"
            if released
            else f"the centre no longer has this slot ({reason})"
        )[:500]
        message.save(update_fields=["payload", "state", "last_error"])


def _booking_current(message: OutboundMessage) -> bool:
    envelope = BookEnvelope.loads(message.payload)
    return Order.objects.filter(
        pk=message.order_id, status=OrderStatus.SIGNED, booking_id=envelope.booking_id
    ).exists()


def _deliver_one(message: OutboundMessage) -> None:
    centre = Centre.objects.get(pk=message.centre_id)
    if not (centre.fhir_appointments and centre.feed_url):
        message.state = OutboundState.FAILED
        message.last_error = "the centre no longer takes FHIR appointments"
    elif message.kind == OutboundKind.FHIR_BOOK and not _booking_current(message):
        # Cancelled (or re-booked) before this went out: its cancellation follows, and
        # sending a booking that no longer exists would only have to be undone.
        message.state = OutboundState.FAILED
        message.last_error = "not sent: the booking was cancelled before delivery"
    else:
        client = CentreFhir(base_url=centre.feed_url, budget_seconds=message_budget_seconds())
        try:
            if message.kind == OutboundKind.FHIR_BOOK:
                _book(message, client)
            else:
                _cancel(message, client)
        except SlotGone as gone:
            _release(message, str(gone))
            return
        except FhirRefused as refused:
            message.state = OutboundState.REJECTED
            message.last_error = str(refused)[:500]
        except FhirUnavailable as error:
            message.last_error = str(error)[:500]
            if message.attempts >= settings.OUTBOX_MAX_ATTEMPTS:
                message.state = OutboundState.FAILED
            else:
                message.state = OutboundState.QUEUED
                message.next_attempt_at = timezone.now() + retry_backoff(message.attempts)
        else:
            message.state = OutboundState.ACKNOWLEDGED
            message.acknowledged_at = timezone.now()
            message.last_error = ""
    message.save(update_fields=["state", "last_error", "next_attempt_at", "acknowledged_at"])


def _claim(message: OutboundMessage) -> bool:
    """Take the message for one attempt, unless another worker took it since it was read.
    Recorded before the send: a worker dying now leaves it ``sent``, claimed again later."""
    now = timezone.now()
    claimed = OutboundMessage.objects.filter(
        pk=message.pk, state=message.state, attempts=message.attempts
    ).update(state=OutboundState.SENT, attempts=F("attempts") + 1, last_attempt_at=now)
    if claimed:
        message.refresh_from_db()
    return bool(claimed)


def _sent_elsewhere(head: OutboundMessage, now: datetime) -> bool:
    """Another worker claimed it for an attempt that is not stale yet."""
    return (
        head.state == OutboundState.SENT
        and head.last_attempt_at is not None
        and head.last_attempt_at > now - _stale()
    )


def fhir_deliver_centre(*, centre_id: int, budget_seconds: float) -> DeliveryRun:
    """Send this centre's due FHIR messages in order, until one must wait, another
    worker is sending, or the time budget is spent."""
    started = timezone.now()
    delivered = attempted = 0
    while True:
        head = next_due(
            centre_id=centre_id,
            kinds=FHIR_KINDS,
            started=started,
            budget_seconds=budget_seconds,
            delivered=delivered,
            attempted=attempted,
            in_flight=_sent_elsewhere,
        )
        if isinstance(head, DeliveryRun):
            return head
        if not _claim(head):
            continue
        _deliver_one(head)
        attempted += 1
        if head.state == OutboundState.ACKNOWLEDGED:
            delivered += 1
        # Ids and states only: the server's words may quote the patient.
        logger.info(
            "outbound message %s to centre %s: %s after %s attempt(s)",
            head.pk,
            head.centre_id,
            head.state,
            head.attempts,
        )
