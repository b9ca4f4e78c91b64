"""Writes of the ordering flow: hold a slot, sign an order, cancel it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from guidelines.models import Procedure
from imaging_cds.audit import audit_record
from ordering.decision import patient_issuer
from ordering.models import Consultation, Order, OrderStatus
from ordering.priors import priors_audit, priors_lookup
from scheduling.availability import ProcedureNeed
from scheduling.services.booking import SlotHold, booking_cancel, slot_book, slot_hold


def procedure_need(procedure: Procedure) -> ProcedureNeed:
    return ProcedureNeed(
        code=procedure.code,
        modality=procedure.modality,
        needs_contrast=procedure.contrast != "none",
        duration_minutes=procedure.duration_minutes,
    )


def order_slot_hold(
    *, consultation: Consultation, slot_id: int, procedure_code: str, user: Any
) -> SlotHold:
    procedure = _offered_procedure(consultation, procedure_code)
    return slot_hold(slot_id=slot_id, user=user, procedure=procedure_need(procedure))


def _offered_procedure(consultation: Consultation, procedure_code: str) -> Procedure:
    offered = {
        r["procedure_code"]
        for r in consultation.outputs.get("ratings", [])
        if r["category"] != "contraindicated"
    }
    if procedure_code not in offered:
        raise ValidationError(_("This exam is not one of the options offered."), code="invalid")
    return Procedure.objects.get(code=procedure_code)


@dataclass(frozen=True)
class PatientIdentity:
    identifier: str
    identifier_kind: str
    birth_date: date
    sex: str


@sensitive_variables("patient", "order")
def order_sign(
    *,
    consultation: Consultation,
    slot_id: int,
    procedure_code: str,
    patient: PatientIdentity,
    user: Any,
    request: Any = None,
) -> Order:
    """Book the slot and sign the order together: both or neither. Raises
    scheduling's SlotTakenError (with the next free slots) if the slot is gone."""
    procedure = _offered_procedure(consultation, procedure_code)
    # Signing forces a fresh look in the PACS, so the order is signed on current priors.
    priors = priors_lookup(
        patient_id=patient.identifier,
        issuer=patient_issuer(patient.identifier_kind),
        today=timezone.localdate(),
        force_refresh=True,
    )
    priors_audit(priors, patient_ref=consultation.patient_ref, user=user, request=request)
    with transaction.atomic():
        booking = slot_book(
            slot_id=slot_id,
            user=user,
            procedure=procedure_need(procedure),
            reference=str(consultation.pk),
            patient_ref=consultation.patient_ref,
        )
        order = Order(
            consultation=consultation,
            prescriber=user,
            procedure=procedure,
            booking=booking,
            patient_identifier=patient.identifier,
            patient_identifier_kind=patient.identifier_kind,
            patient_birth_date=patient.birth_date,
            patient_sex=patient.sex,
        )
        order.full_clean()
        order.save()
        audit_record(
            action="order.sign",
            request=request,
            user=user,
            object_type="order",
            object_id=order.pk,
            patient_ref=consultation.patient_ref,
            detail={
                "booking_id": booking.pk,
                "procedure": procedure.code,
                "prior_status_at_signing": str(priors.status),
            },
        )
    return order


def order_cancel(*, order: Order, user: Any, request: Any = None) -> Order:
    if order.status == OrderStatus.CANCELLED:
        return order
    with transaction.atomic():
        if order.booking_id is not None:
            booking_cancel(
                booking_id=order.booking_id,
                user=order.prescriber,
                patient_ref=order.consultation.patient_ref,
            )
        order.status = OrderStatus.CANCELLED
        order.cancelled_at = timezone.now()
        order.save(update_fields=["status", "cancelled_at"])
        audit_record(
            action="order.cancel",
            request=request,
            user=user,
            object_type="order",
            object_id=order.pk,
            patient_ref=order.consultation.patient_ref,
        )
    return order
