"""Reads of consultations and orders: who may see which, and the audit record every
read of patient data leaves. The pages, the REST API and the FHIR endpoints call
these; none checks ownership or writes the read's audit record on its own."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404

from imaging_cds.audit import audit_record
from ordering.models import CdsCard, Consultation, EhrPractitioner, Order, OutboundMessage
from scheduling.models import Centre


def _key(value: Any) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise Http404 from None


def consultation_get(*, user: Any, consultation_id: Any, via_card: bool = False) -> Consultation:
    """The user's own consultation; with ``via_card``, also one an EHR made through CDS
    Hooks for this user: a card of it was issued, by an active client, to the hook's
    ``userId`` that this client's EhrPractitioner maps to the user. Knowing the link is
    not enough. Someone else's or none: the same 404, nothing to learn."""
    mine = Q(prescriber_id=user.pk)
    if via_card:
        practitioner = EhrPractitioner.objects.filter(
            user_id=user.pk,
            client_id=OuterRef("client_id"),
            ehr_user_id=OuterRef("ehr_user_id"),
            client__active=True,
        )
        cards = CdsCard.objects.filter(
            Exists(practitioner), consultation_id=OuterRef("pk"), ehr_user_id__gt=""
        )
        mine |= Q(Exists(cards))
    found = Consultation.objects.filter(mine, pk=_key(consultation_id)).first()
    if found is None:
        raise Http404
    return found


def consultation_read(
    *, request: Any, consultation_id: Any, via_card: bool = False
) -> Consultation:
    """:func:`consultation_get`, recorded in the audit trail as a read."""
    consultation = consultation_get(
        user=request.user, consultation_id=consultation_id, via_card=via_card
    )
    audit_record(
        action="consultation.read",
        request=request,
        object_type="consultation",
        object_id=consultation.pk,
        patient_ref=consultation.patient_ref,
    )
    return consultation


def orders_of(user: Any) -> QuerySet[Order]:
    return Order.objects.filter(prescriber_id=user.pk).select_related(
        "procedure", "consultation", "booking__slot__equipment__centre"
    )


def order_get(*, user: Any, order_id: Any) -> Order:
    found = orders_of(user).filter(pk=_key(order_id)).first()
    if found is None:
        raise Http404
    return found


def order_read(*, request: Any, order_id: Any) -> Order:
    """:func:`order_get`, recorded in the audit trail as a read (the order carries the
    patient's identity)."""
    order = order_get(user=request.user, order_id=order_id)
    audit_record(
        action="order.read",
        request=request,
        object_type="order",
        object_id=order.pk,
        patient_ref=order.consultation.patient_ref,
    )
    return order


def managed_centre_get(*, user: Any, centre_id: Any) -> Centre:
    """A centre this user manages; any other: 404, nothing to learn. The one check
    behind every page of a centre's outbound messages."""
    found = Centre.objects.filter(pk=centre_id, managers=user.pk).first()
    if found is None:
        raise Http404
    return found


def outbound_messages_of_centre(
    *, user: Any, centre_id: Any
) -> tuple[Centre, QuerySet[OutboundMessage]]:
    centre = managed_centre_get(user=user, centre_id=centre_id)
    messages = OutboundMessage.objects.filter(centre=centre).select_related(
        "order__procedure", "order__booking__slot"
    )
    return centre, messages


def outbound_message_get(*, user: Any, centre_id: Any, message_id: Any) -> OutboundMessage:
    _centre, messages = outbound_messages_of_centre(user=user, centre_id=centre_id)
    found = messages.filter(pk=message_id).first()
    if found is None:
        raise Http404
    return found
