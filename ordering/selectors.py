"""Reads of consultations and orders: who may see which, and the audit record every
read of patient data leaves. The pages, the REST API and the FHIR endpoints call
these; none checks ownership or writes the read's audit record on its own."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404

from imaging_cds.audit import audit_record
from ordering.models import Consultation, Order


def _key(value: Any) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise Http404 from None


def consultation_get(*, user: Any, consultation_id: Any, via_card: bool = False) -> Consultation:
    """The user's own consultation; with ``via_card``, also one an EHR made through CDS
    Hooks, whose unguessable id the card's link carries to the prescriber at the EHR.
    Someone else's or none: the same 404, nothing to learn."""
    mine = Q(prescriber_id=user.pk)
    if via_card:
        mine |= Q(prescriber__ehr_clients__active=True, cds_cards__isnull=False)
    found = Consultation.objects.filter(mine, pk=_key(consultation_id)).distinct().first()
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
