"""The transactional outbox: what a signed or cancelled order must tell its centre.

``outbox_write`` runs inside the transaction that signs or cancels the order, so the
message exists exactly when the order change does; a Celery task
(ordering.tasks.outbox_deliver) sends it afterwards. Delivery is

- ordered per centre: one worker at a time holds a centre's lease (a conditional
  write on its RisEndpoint) and sends that centre's messages oldest first; a message
  waiting for its retry holds back the ones after it;
- at most one message per (placer number, kind): a database constraint;
- never lost: a failure leaves the message queued with its next attempt time
  (exponential backoff), until OUTBOX_MAX_ATTEMPTS, then ``failed``; a message left
  ``sent`` by a dead worker is sent again with the same MSH-10, so the RIS can tell.

The FHIR channel (the booking as an Appointment on the centre's own server) is
written here too (``outbox_order_write`` writes every channel the centre takes) and
delivered by ordering.centre_fhir.delivery, in order per centre on its own.

Nothing here logs a payload, a RIS's answer text or anything naming the patient.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from imaging_cds.audit import audit_record
from ordering.centre_fhir.resources import book_envelope, placer_search
from ordering.models import (
    HL7_KINDS,
    Order,
    OutboundKind,
    OutboundMessage,
    OutboundState,
)
from ordering.ris.messages import MessageInvalid, control_id_new, hl7_order_message, placer_number
from ordering.ris.mllp import Endpoint, MllpError, mllp_send
from scheduling.models import RisEndpoint, SlotSource

logger = logging.getLogger(__name__)

PENDING = (OutboundState.QUEUED, OutboundState.SENT)
RETRYABLE = (OutboundState.REJECTED, OutboundState.FAILED)


def _enqueue(centre_id: int) -> None:
    from ordering.tasks import outbox_deliver

    try:
        outbox_deliver.delay(centre_id)
    except Exception as error:  # any broker client error: the message is safe in the outbox
        # The order change is committed and its message queued in the database: a
        # broker that is down must not turn the signing into an error page. Beat's
        # outbox_dispatch_due sends it once the broker is back.
        logger.warning(
            "delivery to centre %s not enqueued (%s): left to outbox_dispatch_due",
            centre_id,
            error.__class__.__name__,
        )


def _deliver_soon(centre_id: int) -> None:
    transaction.on_commit(lambda: _enqueue(centre_id))


def _centre_of(order: Order, kind: str) -> tuple[int, RisEndpoint] | None:
    """The centre to tell and its RIS endpoint, or None: the order was booked at no
    centre with a RIS endpoint (a cancellation goes where its new order went)."""
    if kind == OutboundKind.NEW:
        if order.booking is None:
            return None
        centre_id = order.booking.slot.equipment.centre_id
    else:
        new = OutboundMessage.objects.filter(order=order, kind=OutboundKind.NEW).first()
        if new is None:
            return None
        centre_id = new.centre_id
    endpoint = RisEndpoint.objects.filter(centre_id=centre_id, enabled=True).first()
    return (centre_id, endpoint) if endpoint is not None else None


def outbox_write(*, order: Order, kind: str) -> OutboundMessage | None:
    """Queue the message ``kind`` for ``order`` in the caller's transaction (a second
    call for the same order and kind returns the first message)."""
    target = _centre_of(order, kind)
    if target is None:
        return None
    centre_id, endpoint = target
    control_id = control_id_new()
    state, error, payload = OutboundState.QUEUED, "", ""
    try:
        payload = hl7_order_message(
            order=order,
            kind=kind,
            profile=endpoint.profile,
            receiving_application=endpoint.receiving_application,
            receiving_facility=endpoint.receiving_facility,
            control_id=control_id,
        )
    except MessageInvalid as invalid:
        # Signing goes on: the order is valid, its message is not; the manager sees why.
        state, error = OutboundState.FAILED, str(invalid)
    message, created = OutboundMessage.objects.get_or_create(
        placer_number=placer_number(order),
        kind=kind,
        defaults={
            "order": order,
            "centre_id": centre_id,
            "control_id": control_id,
            "payload": payload,
            "state": state,
            "last_error": error,
        },
    )
    if created and state == OutboundState.QUEUED:
        _deliver_soon(centre_id)
    return message


def _fhir_book_write(order: Order) -> OutboundMessage | None:
    booking = order.booking
    if booking is None:
        return None
    centre = booking.slot.equipment.centre
    # Only a slot read from the centre's own server can be booked there.
    if not (centre.fhir_appointments and centre.feed_url) or booking.slot.source != SlotSource.FHIR:
        return None
    state, error, payload = OutboundState.QUEUED, "", ""
    try:
        payload = book_envelope(order, booking).dumps()
    except MessageInvalid as invalid:
        state, error = OutboundState.FAILED, str(invalid)
    values = {
        "order": order,
        "centre_id": centre.pk,
        "control_id": control_id_new(),
        "payload": payload,
        "state": state,
        "last_error": error,
    }
    number = placer_number(order)
    earlier = OutboundMessage.objects.filter(
        placer_number=number, kind=OutboundKind.FHIR_BOOK
    ).first()
    if earlier is None:
        message = OutboundMessage.objects.create(
            placer_number=number, kind=OutboundKind.FHIR_BOOK, **values
        )
    elif earlier.state in RETRYABLE:
        # Re-booked after the centre refused the first booking (slot gone): the same
        # message, with the new booking and a fresh set of attempts.
        for name, value in values.items():
            setattr(earlier, name, value)
        earlier.attempts = 0
        earlier.next_attempt_at = timezone.now()
        earlier.save()
        message = earlier
    else:
        return earlier
    if state == OutboundState.QUEUED:
        _deliver_soon(centre.pk)
    return message


def _fhir_cancel_write(order: Order) -> OutboundMessage | None:
    book = OutboundMessage.objects.filter(order=order, kind=OutboundKind.FHIR_BOOK).first()
    if book is None:
        return None
    # Sent even when the booking was refused: the ServiceRequest created before the
    # refusal is revoked; what the server does not hold is simply not found.
    message, created = OutboundMessage.objects.get_or_create(
        placer_number=book.placer_number,
        kind=OutboundKind.FHIR_CANCEL,
        defaults={
            "order": order,
            "centre_id": book.centre_id,
            "control_id": control_id_new(),
            "payload": placer_search(order),
        },
    )
    if created:
        _deliver_soon(book.centre_id)
    return message


def outbox_order_write(*, order: Order, cancelled: bool = False) -> list[OutboundMessage]:
    """Every message the order's booking (or its cancellation) sends its centre, on
    each channel the centre takes: HL7 v2 to its RIS, the FHIR Appointment to its
    server. In the caller's transaction, like ``outbox_write``."""
    if cancelled:
        written = [outbox_write(order=order, kind=OutboundKind.CANCEL), _fhir_cancel_write(order)]
    else:
        written = [outbox_write(order=order, kind=OutboundKind.NEW), _fhir_book_write(order)]
    return [message for message in written if message is not None]


def retry_backoff(attempts: int) -> timedelta:
    base = settings.OUTBOX_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)
    # Jitter, so that many messages failed together do not retry together.
    delay = min(base, settings.OUTBOX_RETRY_MAX_SECONDS) * random.uniform(1.0, 1.1)  # noqa: S311
    return timedelta(seconds=delay)


def _endpoint(ris: RisEndpoint) -> Endpoint:
    return Endpoint(host=ris.host, port=ris.port, use_tls=ris.use_tls, tls_ca_file=ris.tls_ca_file)


def _deliver_one(message: OutboundMessage, ris: RisEndpoint | None) -> None:
    now = timezone.now()
    if ris is None or not ris.enabled:
        message.state = OutboundState.FAILED
        message.last_error = "the centre has no enabled RIS endpoint"
        message.save(update_fields=["state", "last_error"])
        return
    # Recorded before the send: a worker dying now leaves "sent", sent again later.
    message.state = OutboundState.SENT
    message.attempts += 1
    message.last_attempt_at = now
    message.save(update_fields=["state", "attempts", "last_attempt_at"])
    try:
        ack = mllp_send(
            _endpoint(ris),
            message.payload,
            control_id=message.control_id,
            connect_timeout=settings.MLLP_CONNECT_TIMEOUT,
            answer_timeout=settings.MLLP_ANSWER_TIMEOUT,
            max_answer_bytes=settings.MLLP_MAX_ANSWER_BYTES,
        )
    except MllpError as error:
        message.last_error = str(error)
        if message.attempts >= settings.OUTBOX_MAX_ATTEMPTS:
            message.state = OutboundState.FAILED
        else:
            message.state = OutboundState.QUEUED
            message.next_attempt_at = timezone.now() + retry_backoff(message.attempts)
    else:
        if ack.accepted:
            message.state = OutboundState.ACKNOWLEDGED
            message.acknowledged_at = timezone.now()
            message.last_error = ""
        else:
            message.state = OutboundState.REJECTED
            message.last_error = f"{ack.code}: {ack.text}"[:500]
    message.save(update_fields=["state", "last_error", "next_attempt_at", "acknowledged_at"])
    # Ids and states only: the RIS's text may quote the patient.
    logger.info(
        "outbound message %s to centre %s: %s after %s attempt(s)",
        message.pk,
        message.centre_id,
        message.state,
        message.attempts,
    )


@dataclass(frozen=True)
class DeliveryRun:
    delivered: int
    # When this centre next has a message due (None: nothing pending).
    next_due: datetime | None
    # Another worker held the centre's lease: it does the work.
    busy: bool = False
    # Messages this run tried to send: only a run that did comes back for the next
    # attempt, so extra triggers (one per signing) never multiply into many chains.
    attempted: int = 0


def next_due(
    *,
    centre_id: int,
    kinds: Collection[str],
    started: datetime,
    budget_seconds: float,
    delivered: int,
    attempted: int,
    in_flight: Callable[[OutboundMessage, datetime], bool] | None = None,
) -> OutboundMessage | DeliveryRun:
    """The centre's oldest pending message of these kinds, if it may be sent now;
    otherwise how the run ends: nothing pending, the head waits for its retry (later
    ones wait behind it, so the centre receives them in order), the head is being
    sent by another worker (``in_flight``), or the run's time budget is spent. One
    rule for every channel's delivery loop (the RIS here, FHIR in centre_fhir)."""
    head = (
        OutboundMessage.objects.filter(centre_id=centre_id, kind__in=kinds, state__in=PENDING)
        .order_by("id")
        .first()
    )
    if head is None:
        return DeliveryRun(delivered, next_due=None, attempted=attempted)
    now = timezone.now()
    if head.state == OutboundState.QUEUED and head.next_attempt_at > now:
        return DeliveryRun(delivered, next_due=head.next_attempt_at, attempted=attempted)
    if in_flight is not None and in_flight(head, now):
        # Beat looks again if that worker died.
        return DeliveryRun(delivered, next_due=None, attempted=attempted)
    if (now - started).total_seconds() > budget_seconds:
        return DeliveryRun(delivered, next_due=now, attempted=attempted)
    return head


def _lease_claim(centre_id: int, now: datetime) -> bool:
    lease = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 30)
    claimed = (
        RisEndpoint.objects.filter(centre_id=centre_id)
        .filter(Q(delivery_lease_until__isnull=True) | Q(delivery_lease_until__lt=now))
        .update(delivery_lease_until=now + lease)
    )
    if claimed:
        return True
    # A centre whose endpoint was removed still has its messages failed, in order.
    return not RisEndpoint.objects.filter(centre_id=centre_id).exists()


def outbox_deliver_centre(*, centre_id: int, budget_seconds: float) -> DeliveryRun:
    """Send this centre's due messages in order, until one must wait or the time
    budget is spent."""
    started = timezone.now()
    if not _lease_claim(centre_id, started):
        return DeliveryRun(delivered=0, next_due=None, busy=True)
    delivered = attempted = 0
    try:
        ris = RisEndpoint.objects.filter(centre_id=centre_id).first()
        while True:
            head = next_due(
                centre_id=centre_id,
                kinds=HL7_KINDS,
                started=started,
                budget_seconds=budget_seconds,
                delivered=delivered,
                attempted=attempted,
            )
            if isinstance(head, DeliveryRun):
                return head
            _deliver_one(head, ris)
            attempted += 1
            if head.state == OutboundState.ACKNOWLEDGED:
                delivered += 1
    finally:
        RisEndpoint.objects.filter(centre_id=centre_id).update(delivery_lease_until=None)


def outbox_centres_due() -> list[int]:
    """Centres with a message due now (beat's safety net)."""
    now = timezone.now()
    return list(
        OutboundMessage.objects.filter(state__in=PENDING, next_attempt_at__lte=now)
        .values_list("centre_id", flat=True)
        .distinct()
        .order_by("centre_id")
    )


def outbound_message_retry(*, message: OutboundMessage, user: Any, request: Any = None) -> bool:
    """A manager sends a rejected or failed message again, with a fresh set of
    attempts; it keeps its place (its id) in the centre's order. False if there was
    nothing to retry."""
    with transaction.atomic():
        updated = OutboundMessage.objects.filter(pk=message.pk, state__in=RETRYABLE).update(
            state=OutboundState.QUEUED, attempts=0, next_attempt_at=timezone.now()
        )
        if not updated:
            return False
        audit_record(
            action="outbound_message.retry",
            request=request,
            user=user,
            object_type="outbound_message",
            object_id=message.pk,
            detail={"order_id": str(message.order_id), "kind": message.kind},
        )
        _deliver_soon(message.centre_id)
    return True
