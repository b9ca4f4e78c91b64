"""Writes of the ordering flow: hold a slot, sign an order, cancel it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from guidelines.engine import evaluate, published_rule_set_compiled
from guidelines.models import Category, Procedure
from imaging_cds.audit import audit_record
from ordering.contract import (
    IdentityTraits,
    InputError,
    age_in_years,
    identity_traits_validate,
    patient_issuer,
    patient_reference,
)
from ordering.decision import procedure_need
from ordering.models import Consultation, Order, OrderStatus
from ordering.outbox import outbox_order_write
from ordering.pilot.measures import measure_signed
from ordering.priors import PriorLookup, priors_audit, priors_lookup
from ordering.ranking import not_appropriate
from ordering.record import ConsultationRecord, localised
from scheduling.services.booking import SlotHold, booking_cancel, slot_book, slot_hold


def order_slot_hold(
    *, consultation: Consultation, slot_id: int, procedure_code: str, user: Any
) -> SlotHold:
    record = ConsultationRecord(consultation)
    record.offered_rating(procedure_code)
    procedure = Procedure.objects.get(code=procedure_code)
    return slot_hold(
        slot_id=slot_id,
        user=user,
        procedure=procedure_need(procedure),
        constraints=record.constraints(),
    )


@dataclass(frozen=True)
class PatientIdentity:
    identifier: str
    identifier_kind: str
    birth_date: date
    sex: str
    # Printed on the order for the centre, stored on the order only (issue 19).
    birth_name: str = ""
    given_names: str = ""


class DecisionChangedError(ValidationError):
    """The fresh look in the PACS at signing changes the rating of the exam: nothing is
    signed. ``alternatives`` are the exams still worth booking, best first."""

    def __init__(self, message: str, alternatives: list[dict[str, Any]]) -> None:
        super().__init__(message, code="decision_changed")
        self.alternatives = alternatives


class DuplicateOrderError(ValidationError):
    """The same exam was signed for the same patient within the rule's interval: a
    question to the prescriber ("sign it again?"), asked before anything is booked.
    ``prior_date`` is the day the earlier order was signed."""

    def __init__(self, message: str, prior_date: date) -> None:
        super().__init__(message, code="duplicate_order")
        self.prior_date = prior_date


# With no interval in the rule, an identical order signed this recently is taken for a
# repeat: the same exam for the same patient twice within days is almost always a
# double submission, and the prescriber can still confirm it.
DUPLICATE_WINDOW_DAYS = 7


def _duplicate_check(
    consultation: Consultation, procedure: Procedure, rating: dict[str, Any]
) -> None:
    days = rating.get("repeat_interval_days") or DUPLICATE_WINDOW_DAYS
    since = timezone.now() - timedelta(days=int(days))
    earlier = (
        Order.objects.filter(
            consultation__patient_ref=consultation.patient_ref,
            procedure=procedure,
            status=OrderStatus.SIGNED,
            signed_at__gte=since,
        )
        .order_by("-signed_at")
        .values_list("signed_at", flat=True)
        .first()
    )
    if earlier is None:
        return
    signed_on = timezone.localdate(earlier)
    raise DuplicateOrderError(
        _(
            "The same exam was already ordered for this patient on %(date)s. "
            "Sign this order anyway only if a second exam is truly needed."
        )
        % {"date": date_format(signed_on, "DATE_FORMAT")},
        signed_on,
    )


def _pregnancy_check(record: ConsultationRecord, procedure: Procedure) -> None:
    if record.pregnancy_unanswered(procedure.modality, procedure.body_region):
        raise ValidationError(
            _(
                "Pregnancy is not known: for a woman of 12 to 55, it must be answered "
                "(yes or no) before an ionising exam of the abdomen or pelvis. Check it "
                "and start the order again."
            ),
            code="pregnancy_unanswered",
        )


def _identity_check(consultation: Consultation, identity: PatientIdentity) -> IdentityTraits:
    """The order is signed for the patient the decision was made for: the same keyed
    pseudonym, and the same sex and age as recorded then; and it names the patient as
    the centre needs (ordering.contract.identity_traits_validate)."""
    try:
        traits = identity_traits_validate(
            birth_name=identity.birth_name, given_names=identity.given_names
        )
    except InputError as error:
        raise ValidationError(
            {name: messages for name, messages in error.errors.items()}, code="identity_traits"
        ) from None
    recorded = ConsultationRecord(consultation).patient
    same = (
        patient_reference(identity.identifier_kind, identity.identifier) == consultation.patient_ref
        and identity.sex == recorded.get("sex")
        and age_in_years(identity.birth_date, timezone.localdate(consultation.created_at))
        == recorded.get("age_years")
    )
    if not same:
        raise ValidationError(
            _("This patient is not the one the decision was made for: start a new order."),
            code="identity_mismatch",
        )
    return traits


def _rerated(record: ConsultationRecord, procedure_code: str, priors: PriorLookup) -> None:
    """Rate the exam again on the prior exams found now; refuse what has become
    contraindicated, not worth booking or redundant since the decision."""
    before = record.offered_rating(procedure_code)
    decision = evaluate(
        record.indication_code,
        record.context(priors.facts, timezone.localdate()),
        published_rule_set_compiled(),
    )
    now = next((r for r in decision.ratings if r.procedure.code == procedure_code), None)
    alternatives = [
        {
            "procedure_code": r.procedure.code,
            "label_fr": r.procedure.label_fr,
            "label_en": r.procedure.label_en,
            "category": r.category,
            "score": r.score,
        }
        for r in decision.ratings
        if r.procedure.code != procedure_code
        and r.redundancy is None
        and not not_appropriate(r.category, r.score)
    ]
    if now is None or not_appropriate(now.category, now.score):
        reason = (
            "; ".join(localised(f, "reason") for f in now.contraindications)
            if now is not None
            else ""
        )
        category = Category(now.category).label if now is not None else _("not rated")
        raise DecisionChangedError(
            _("Since the decision, this exam has become: %(category)s. %(reason)s")
            % {"category": category, "reason": reason},
            alternatives,
        )
    if now.redundancy is not None and before.get("redundancy") is None:
        message = localised(now.redundancy, "message")
        raise DecisionChangedError(
            _("A prior exam was found in the PACS since the decision: %(message)s")
            % {"message": message},
            alternatives,
        )


@sensitive_variables("patient", "order", "traits")
def order_sign(
    *,
    consultation: Consultation,
    slot_id: int | None,
    procedure_code: str,
    patient: PatientIdentity,
    user: Any,
    request: Any = None,
    confirm_duplicate: bool = False,
) -> Order:
    """Sign what was decided, for whom it was decided: the same patient, an exam the
    decision offers, a slot that can perform it (``slot_id`` is the first slot; an exam
    longer than it takes the run of consecutive slots after it, booked whole by
    slot_book under the same slot_unsuitability rule as the search), and a rating that
    still holds on the prior exams the PACS has now. Booking and signing happen together
    (both or neither). With ``slot_id`` None the order is signed without a booking (the
    patient books later, from the order's booking page): every check but the slot's.
    Raises ValidationError (identity_mismatch, not_offered, pregnancy_unanswered,
    slot_unsuitable), DuplicateOrderError unless the prescriber confirmed a repeat,
    DecisionChangedError, or scheduling's SlotTakenError (with the
    next free slots) if the slot is gone."""
    traits = _identity_check(consultation, patient)
    record = ConsultationRecord(consultation)
    rating = record.offered_rating(procedure_code)
    procedure = Procedure.objects.get(code=procedure_code)
    _pregnancy_check(record, procedure)
    if not confirm_duplicate:
        _duplicate_check(consultation, procedure, rating)
    priors = priors_lookup(
        patient_id=patient.identifier,
        issuer=patient_issuer(patient.identifier_kind),
        today=timezone.localdate(),
        force_refresh=True,
    )
    priors_audit(priors, patient_ref=consultation.patient_ref, user=user, request=request)
    try:
        _rerated(record, procedure_code, priors)
    except DecisionChangedError as changed:
        audit_record(
            action="order.sign_refused",
            request=request,
            user=user,
            object_type="consultation",
            object_id=consultation.pk,
            patient_ref=consultation.patient_ref,
            detail={"procedure": procedure_code, "prior_status_at_signing": str(priors.status)},
        )
        raise changed
    with transaction.atomic():
        booking = None
        if slot_id is not None:
            booking = slot_book(
                slot_id=slot_id,
                user=user,
                procedure=procedure_need(procedure),
                constraints=record.constraints(),
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
            patient_birth_name=traits.birth_name,
            patient_given_names=traits.given_names,
        )
        order.full_clean()
        order.save()
        measure_signed(order=order)
        audit_record(
            action="order.sign",
            request=request,
            user=user,
            object_type="order",
            object_id=order.pk,
            patient_ref=consultation.patient_ref,
            detail={
                "booking_id": booking.pk if booking is not None else None,
                "procedure": procedure.code,
                "prior_status_at_signing": str(priors.status),
                **({"repeat_confirmed": True} if confirm_duplicate else {}),
            },
        )
        outbox_order_write(order=order)
    return order


class OrderNotBookableError(ValidationError):
    """The order was cancelled or already booked: there is nothing to book."""


def order_book(*, order: Order, slot_id: int, user: Any = None, request: Any = None) -> Order:
    """Book the exam of an order signed without a booking (the patient chose a slot on
    the order's booking page, or the prescriber re-books). The booking and the
    new-order message to the centre are written in one transaction, as at signing: the
    centre hears of the order exactly when it is booked. The booking is made in the
    prescriber's name (the patient has no account); ``user`` is who acted, for the
    audit (None: the patient, through the page's token). Raises OrderNotBookableError,
    or scheduling's SlotTakenError (with the next free slots) / SlotUnsuitableError."""
    record = ConsultationRecord(order.consultation)
    with transaction.atomic():
        # Locked: two clicks (or the patient and the prescriber at once) book one slot.
        locked = Order.objects.select_for_update().get(pk=order.pk)
        if locked.status != OrderStatus.SIGNED or locked.booking_id is not None:
            raise OrderNotBookableError(
                _("This order is cancelled or already booked."), code="not_bookable"
            )
        booking = slot_book(
            slot_id=slot_id,
            user=locked.prescriber,
            procedure=procedure_need(locked.procedure),
            constraints=record.constraints(),
            reference=str(locked.consultation_id),
            patient_ref=order.consultation.patient_ref,
        )
        locked.booking = booking
        locked.save(update_fields=["booking"])
        audit_record(
            action="order.book",
            request=request,
            user=user,
            object_type="order",
            object_id=locked.pk,
            patient_ref=order.consultation.patient_ref,
            detail={"booking_id": booking.pk, "by_patient": user is None},
        )
        outbox_order_write(order=locked)
    order.booking = booking
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
        outbox_order_write(order=order, cancelled=True)
    return order
