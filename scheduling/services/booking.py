"""Holding, booking, releasing and cancelling slots, without double booking.

Every state change of a slot is a conditional write in one transaction: the
slot row is locked (``select_for_update``) or updated only if still in the
expected state, so of many concurrent attempts on one slot exactly one wins.
The others get :class:`SlotTakenError`, which carries the next free slots of
the same machine for the same procedure. A unique constraint on active
bookings backs this up in the database itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from imaging_cds.audit import audit_record
from imaging_cds.vocab import Modality
from scheduling.availability import PatientConstraints, ProcedureNeed, machine_fits
from scheduling.cache import machine_facts
from scheduling.models import Booking, BookingStatus, Slot, SlotStatus
from scheduling.services.feeds import cache_write_quietly


@dataclass(frozen=True)
class SlotSummary:
    slot_id: int
    equipment_id: int
    centre_id: int
    start: datetime
    end: datetime


@dataclass(frozen=True)
class SlotHold:
    slot_id: int
    held_until: datetime


class SlotTakenError(ValidationError):
    """The slot was taken (or withdrawn) just before; ``alternatives`` are the next
    free slots of the same machine that fit the same procedure."""

    def __init__(self, slot_id: int, alternatives: list[SlotSummary]) -> None:
        super().__init__(_("This slot has just been taken. Choose another one."), code="slot_taken")
        self.slot_id = slot_id
        self.alternatives = alternatives


class SlotUnsuitableError(ValidationError):
    """The slot exists but cannot take this exam for this patient: the search would
    never have offered it."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="slot_unsuitable")


def slot_unsuitability(
    slot: Slot, need: ProcedureNeed, constraints: PatientConstraints | None, now: datetime
) -> str | None:
    """Why this slot cannot perform the exam, by the same tests as the search
    (scheduling.availability), or None when it can."""
    equipment = slot.equipment
    if equipment.modality != need.modality:
        return _("This slot is on a %(slot)s machine; the exam needs %(exam)s.") % {
            "slot": equipment.get_modality_display(),
            "exam": Modality(need.modality).label,
        }
    minutes = int((slot.end - slot.start).total_seconds() // 60)
    if minutes < need.duration_minutes:
        return _("This slot lasts %(slot)s min; the exam needs %(exam)s min.") % {
            "slot": minutes,
            "exam": need.duration_minutes,
        }
    if slot.start > now + timedelta(days=settings.AVAILABILITY_HORIZON_DAYS):
        return _("This slot is beyond the booking horizon.")
    constraints = constraints or PatientConstraints()
    fits, _unmet = machine_fits(machine_facts(equipment), need, constraints)
    if not fits:
        return _(
            "This machine cannot perform this exam for this patient "
            "(exams it performs, contrast injection, table weight or children)."
        )
    if constraints.wheelchair and not equipment.centre.wheelchair_accessible:
        return _("This centre is not accessible in a wheelchair.")
    return None


def _check_suitable(
    slot: Slot | None, need: ProcedureNeed | None, constraints: PatientConstraints | None
) -> None:
    if slot is None or need is None:
        return
    problem = slot_unsuitability(slot, need, constraints, timezone.now())
    if problem:
        raise SlotUnsuitableError(problem)


def _available_now(now: datetime) -> Q:
    return Q(status=SlotStatus.FREE) | Q(status=SlotStatus.HELD, held_until__lt=now)


def next_free_slots(
    *, equipment_id: int, procedure: ProcedureNeed | None = None, limit: int = 5
) -> list[SlotSummary]:
    now = timezone.now()
    rows = Slot.objects.filter(_available_now(now), equipment_id=equipment_id, start__gt=now)
    summaries = []
    for slot in rows.select_related("equipment").order_by("start")[: limit * 4]:
        if procedure and (slot.end - slot.start) < timedelta(minutes=procedure.duration_minutes):
            continue
        summaries.append(
            SlotSummary(slot.pk, slot.equipment_id, slot.equipment.centre_id, slot.start, slot.end)
        )
        if len(summaries) == limit:
            break
    return summaries


def _taken(slot_id: int, procedure: ProcedureNeed | None) -> SlotTakenError:
    equipment_id = Slot.objects.filter(pk=slot_id).values_list("equipment_id", flat=True).first()
    alternatives = (
        next_free_slots(equipment_id=equipment_id, procedure=procedure) if equipment_id else []
    )
    return SlotTakenError(slot_id, alternatives)


def _after_change(slot_id: int) -> None:
    centre_id = (
        Slot.objects.filter(pk=slot_id).values_list("equipment__centre_id", flat=True).first()
    )
    if centre_id is not None:
        transaction.on_commit(lambda: cache_write_quietly([centre_id]))


def slot_hold(
    *,
    slot_id: int,
    user: Any,
    procedure: ProcedureNeed | None = None,
    constraints: PatientConstraints | None = None,
    hold_seconds: int | None = None,
) -> SlotHold:
    """Hold a free slot for this user while they confirm. Holding again extends the hold.
    With ``procedure``, a slot that cannot perform it is refused (SlotUnsuitableError)."""
    now = timezone.now()
    until = now + timedelta(seconds=hold_seconds or settings.SLOT_HOLD_SECONDS)
    if procedure is not None:
        _check_suitable(
            Slot.objects.select_related("equipment__centre").filter(pk=slot_id).first(),
            procedure,
            constraints,
        )
    with transaction.atomic():
        updated = (
            Slot.objects.filter(pk=slot_id, start__gt=now)
            .filter(_available_now(now) | Q(status=SlotStatus.HELD, held_by=user))
            .update(status=SlotStatus.HELD, held_by=user, held_until=until, updated_at=now)
        )
        if updated != 1:
            raise _taken(slot_id, procedure)
        _after_change(slot_id)
    return SlotHold(slot_id=slot_id, held_until=until)


def slot_release(*, slot_id: int, user: Any) -> bool:
    """Give back a slot this user holds; False if they held nothing there."""
    with transaction.atomic():
        released = Slot.objects.filter(pk=slot_id, status=SlotStatus.HELD, held_by=user).update(
            status=SlotStatus.FREE, held_by=None, held_until=None, updated_at=timezone.now()
        )
        if released:
            _after_change(slot_id)
    return bool(released)


def slot_book(
    *,
    slot_id: int,
    user: Any,
    procedure: ProcedureNeed,
    constraints: PatientConstraints | None = None,
    reference: str = "",
    patient_ref: str = "",
) -> Booking:
    """Book a slot: one this user holds, or one still free, that can perform the exam
    for this patient. Raises SlotTakenError or SlotUnsuitableError.
    ``patient_ref`` is the caller's pseudonym of the patient, for the audit trail."""
    now = timezone.now()
    try:
        with transaction.atomic():
            slot = (
                Slot.objects.select_for_update(of=("self",))
                .select_related("equipment__centre")
                .filter(pk=slot_id)
                .first()
            )
            if slot is None or slot.start <= now:
                raise _taken(slot_id, procedure)
            _check_suitable(slot, procedure, constraints)
            held_by_other = (
                slot.status == SlotStatus.HELD
                and slot.held_by_id != user.pk
                and slot.held_until is not None
                and slot.held_until >= now
            )
            if slot.status not in (SlotStatus.FREE, SlotStatus.HELD) or held_by_other:
                raise _taken(slot_id, procedure)
            slot.status = SlotStatus.BOOKED
            slot.held_by = None
            slot.held_until = None
            slot.save(update_fields=["status", "held_by", "held_until", "updated_at"])
            booking = Booking(
                slot=slot, procedure_code=procedure.code, booked_by=user, reference=reference
            )
            booking.full_clean()
            booking.save()
            audit_record(
                action="booking.create",
                user=user,
                object_type="booking",
                object_id=booking.pk,
                patient_ref=patient_ref,
                detail={"slot_id": slot_id, "procedure": procedure.code, "reference": reference},
            )
            _after_change(slot_id)
    except IntegrityError:
        raise _taken(slot_id, procedure) from None
    return booking


def booking_cancel(*, booking_id: int, user: Any, patient_ref: str = "") -> Booking:
    """Cancel a booking made by this user; a future slot becomes free again."""
    now = timezone.now()
    with transaction.atomic():
        booking = (
            Booking.objects.select_for_update()
            .select_related("slot")
            .filter(pk=booking_id, booked_by=user)
            .first()
        )
        if booking is None:
            raise ValidationError(_("No such booking."), code="not_found")
        if booking.status == BookingStatus.CANCELLED:
            return booking
        booking.status = BookingStatus.CANCELLED
        booking.cancelled_at = now
        booking.save(update_fields=["status", "cancelled_at"])
        audit_record(
            action="booking.cancel",
            user=user,
            object_type="booking",
            object_id=booking.pk,
            patient_ref=patient_ref,
            detail={"slot_id": booking.slot_id},
        )
        if booking.slot.start > now:
            Slot.objects.filter(pk=booking.slot_id, status=SlotStatus.BOOKED).update(
                status=SlotStatus.FREE, updated_at=now
            )
            _after_change(booking.slot_id)
    return booking


def holds_release_expired(*, now: datetime | None = None) -> int:
    """Free every slot whose hold has run out (reads already treat them as free)."""
    now = now or timezone.now()
    with transaction.atomic():
        expired = list(
            Slot.objects.filter(status=SlotStatus.HELD, held_until__lt=now).values_list(
                "id", "equipment__centre_id"
            )
        )
        count = Slot.objects.filter(
            pk__in=[pk for pk, _ in expired], status=SlotStatus.HELD, held_until__lt=now
        ).update(status=SlotStatus.FREE, held_by=None, held_until=None, updated_at=now)
        centres = sorted({c for _, c in expired})
        if centres:
            transaction.on_commit(lambda: cache_write_quietly(centres))
    return count
