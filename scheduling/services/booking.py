"""Holding, booking, releasing and cancelling slots, without double booking.

An exam takes one slot, or — when it is longer than its machine's slot — a *run*:
that slot and the ones right after it on the same machine, each starting where the
previous ends (scheduling.fit.slot_run, the rule the search applies too). A run is
held, booked, released and expired as one: all of its slots or none.

Every state change is made in one transaction on rows locked with
``select_for_update`` in one stable order (start, then id), so two attempts on
overlapping runs queue on their first shared slot instead of deadlocking, and of
many concurrent attempts exactly one wins. The others get
:class:`SlotTakenError`, which carries the next free runs of the same machine for
the same procedure. Unique constraints on active bookings (per first slot) and on
active booking runs (per slot) back this up in the database itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from imaging_cds.audit import audit_record
from imaging_cds.vocab import Modality
from scheduling.cache import centre_facts, machine_facts
from scheduling.fit import (
    Misfit,
    PatientConstraints,
    ProcedureNeed,
    centre_misfits,
    machine_fits,
    slot_run,
)
from scheduling.models import Booking, BookingSlot, BookingStatus, Slot, SlotStatus
from scheduling.services.feeds import cache_write_quietly


@dataclass(frozen=True)
class SlotSummary:
    slot_id: int
    equipment_id: int
    centre_id: int
    start: datetime
    end: datetime
    # The run from ``slot_id`` (itself alone for an exam that fits one slot).
    slot_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class SlotHold:
    slot_id: int
    held_until: datetime
    # Every slot held: the run the exam takes, first one first.
    slot_ids: tuple[int, ...] = ()
    end: datetime | None = None


class SlotTakenError(ValidationError):
    """The slot, or a slot of its run, was taken (or withdrawn) just before;
    ``alternatives`` are the next free runs of the same machine that fit the same
    procedure."""

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
    run: Sequence[Slot],
    need: ProcedureNeed,
    constraints: PatientConstraints | None,
    now: datetime,
) -> str | None:
    """Why this run of slots (a start slot and those the exam takes after it) cannot
    perform the exam, by the same tests as the search (scheduling.availability), or
    None when it can."""
    first = run[0]
    equipment = first.equipment
    if equipment.modality != need.modality:
        return _("This slot is on a %(slot)s machine; the exam needs %(exam)s.") % {
            "slot": equipment.get_modality_display(),
            "exam": Modality(need.modality).label,
        }
    for previous, following in pairwise(run):
        if following.equipment_id != first.equipment_id or following.start != previous.end:
            return _("These slots do not follow each other on one machine.")
    minutes = int((run[-1].end - first.start).total_seconds() // 60)
    if minutes < need.duration_minutes:
        if len(run) == 1:
            return _("This slot lasts %(slot)s min; the exam needs %(exam)s min.") % {
                "slot": minutes,
                "exam": need.duration_minutes,
            }
        return _(
            "This slot and the ones right after it on the machine last %(slot)s min; "
            "the exam needs %(exam)s min."
        ) % {"slot": minutes, "exam": need.duration_minutes}
    if first.start > now + timedelta(days=settings.AVAILABILITY_HORIZON_DAYS):
        return _("This slot is beyond the booking horizon.")
    constraints = constraints or PatientConstraints()
    fits, _unmet = machine_fits(machine_facts(equipment), need, constraints)
    if not fits:
        return _(
            "This machine cannot perform this exam for this patient "
            "(exams it performs, contrast injection, table weight or children)."
        )
    if Misfit.WHEELCHAIR in centre_misfits(centre_facts(first.equipment.centre), constraints):
        return _("This centre is not accessible in a wheelchair.")
    return None


def _check_suitable(
    run: Sequence[Slot], need: ProcedureNeed | None, constraints: PatientConstraints | None
) -> None:
    if not run or need is None:
        return
    problem = slot_unsuitability(run, need, constraints, timezone.now())
    if problem:
        raise SlotUnsuitableError(problem)


def _available_now(now: datetime) -> Q:
    return Q(status=SlotStatus.FREE) | Q(status=SlotStatus.HELD, held_until__lt=now)


def _run_ids(head: Slot, procedure: ProcedureNeed | None) -> list[int]:
    """The ids of the run an exam takes from ``head``: the head, then the slots that
    follow it back to back on the machine (whatever their status: a taken one is
    found taken once locked) until the exam's duration is covered. A gap stops the
    run short; the suitability check then says it is too short."""
    if procedure is None:
        return [head.pk]
    duration = timedelta(minutes=procedure.duration_minutes)
    rows = (
        Slot.objects.filter(
            equipment_id=head.equipment_id,
            start__gte=head.end,
            start__lt=head.start + duration,
        )
        .exclude(status=SlotStatus.WITHDRAWN)
        .order_by("start", "pk")
        .values_list("start", "end", "pk")
    )
    # One slot per start time: the chain below needs a single next slot.
    following: dict[datetime, tuple[datetime, int]] = {}
    for start, end, pk in rows:
        following.setdefault(start, (end, pk))
    ids, cursor = [head.pk], head.end
    while cursor - head.start < duration and cursor in following:
        cursor, pk = following[cursor]
        ids.append(pk)
    return ids


def _lock(ids: Sequence[int]) -> list[Slot]:
    """Lock these slots in the one order every writer uses (start, then id), so that
    two transactions wanting overlapping runs wait on each other, never deadlock.
    Must run inside a transaction."""
    return list(
        Slot.objects.select_for_update(of=("self",))
        .select_related("equipment__centre")
        .filter(pk__in=ids)
        .order_by("start", "pk")
    )


def _lock_run(slot_id: int, procedure: ProcedureNeed | None) -> list[Slot]:
    """Lock the run the exam takes from ``slot_id`` and return it, first slot first;
    [] when that slot no longer exists."""
    head = Slot.objects.filter(pk=slot_id).first()
    if head is None:
        return []
    run = _lock(_run_ids(head, procedure))
    return run if run and run[0].pk == slot_id else []


def _free_for(slot: Slot, user: Any, now: datetime) -> bool:
    """The slot may be taken by this user: free, held by them, or held by someone whose
    hold has run out."""
    if slot.start <= now:
        return False
    if slot.status == SlotStatus.FREE:
        return True
    if slot.status != SlotStatus.HELD:
        return False
    return slot.held_by_id == user.pk or (slot.held_until is not None and slot.held_until < now)


def next_free_slots(
    *, equipment_id: int, procedure: ProcedureNeed | None = None, limit: int = 5
) -> list[SlotSummary]:
    """The next free runs of this machine for the procedure (by the search's rule)."""
    now = timezone.now()
    rows = list(
        Slot.objects.filter(_available_now(now), equipment_id=equipment_id, start__gt=now)
        .select_related("equipment")
        .order_by("start", "pk")[: limit * 40]
    )
    duration = procedure.duration_minutes * 60 if procedure else 0
    timeline = [(s.start.timestamp(), s.end.timestamp(), s.pk) for s in rows]
    summaries = []
    for index, slot in enumerate(rows):
        run = slot_run(timeline, index, duration)
        if run is None:
            continue
        ids, end = run
        summaries.append(
            SlotSummary(
                slot.pk,
                slot.equipment_id,
                slot.equipment.centre_id,
                slot.start,
                datetime.fromtimestamp(end, tz=slot.start.tzinfo),
                ids,
            )
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
    """Hold a free slot — with ``procedure``, the whole run of slots the exam takes from
    it — for this user while they confirm: every slot of the run or none. Holding again
    extends the hold. A run that cannot perform the exam is refused
    (SlotUnsuitableError); one a slot of which is taken raises SlotTakenError."""
    now = timezone.now()
    until = now + timedelta(seconds=hold_seconds or settings.SLOT_HOLD_SECONDS)
    with transaction.atomic():
        run = _lock_run(slot_id, procedure)
        if not run:
            raise _taken(slot_id, procedure)
        _check_suitable(run, procedure, constraints)
        if not all(_free_for(slot, user, now) for slot in run):
            raise _taken(slot_id, procedure)
        ids = [slot.pk for slot in run]
        Slot.objects.filter(pk__in=ids).update(
            status=SlotStatus.HELD, held_by=user, held_until=until, run_head=slot_id, updated_at=now
        )
        _after_change(slot_id)
    return SlotHold(slot_id=slot_id, held_until=until, slot_ids=tuple(ids), end=run[-1].end)


def slot_release(*, slot_id: int, user: Any) -> bool:
    """Give back what this user holds from this slot: the slot and the rest of the run
    held with it. False if they held nothing there."""
    now = timezone.now()
    with transaction.atomic():
        ids = Slot.objects.filter(
            Q(pk=slot_id) | Q(run_head=slot_id), status=SlotStatus.HELD, held_by=user
        ).values_list("pk", flat=True)
        mine = [slot.pk for slot in _lock(list(ids)) if slot.held_by_id == user.pk]
        released = Slot.objects.filter(pk__in=mine, status=SlotStatus.HELD).update(
            status=SlotStatus.FREE, held_by=None, held_until=None, run_head=None, updated_at=now
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
    """Book the run of slots the exam takes from ``slot_id`` — slots this user holds, or
    still free — if it can perform the exam for this patient; every slot of the run or
    none. Raises SlotTakenError or SlotUnsuitableError. ``patient_ref`` is the caller's
    pseudonym of the patient, for the audit trail."""
    now = timezone.now()
    try:
        with transaction.atomic():
            run = _lock_run(slot_id, procedure)
            if not run or run[0].start <= now:
                raise _taken(slot_id, procedure)
            _check_suitable(run, procedure, constraints)
            if not all(_free_for(slot, user, now) for slot in run):
                raise _taken(slot_id, procedure)
            ids = [slot.pk for slot in run]
            Slot.objects.filter(pk__in=ids).update(
                status=SlotStatus.BOOKED,
                held_by=None,
                held_until=None,
                run_head=None,
                updated_at=now,
            )
            booking = Booking(
                slot=run[0], procedure_code=procedure.code, booked_by=user, reference=reference
            )
            booking.full_clean()
            booking.save()
            BookingSlot.objects.bulk_create(BookingSlot(booking=booking, slot=s) for s in run)
            audit_record(
                action="booking.create",
                user=user,
                object_type="booking",
                object_id=booking.pk,
                patient_ref=patient_ref,
                detail={
                    "slot_id": slot_id,
                    "slot_ids": ids,
                    "procedure": procedure.code,
                    "reference": reference,
                },
            )
            _after_change(slot_id)
    except IntegrityError:
        raise _taken(slot_id, procedure) from None
    return booking


def booking_cancel(*, booking_id: int, user: Any, patient_ref: str = "") -> Booking:
    """Cancel a booking made by this user; its future slots (the whole run) become free
    again."""
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
        ids = list(booking.run.filter(active=True).values_list("slot_id", flat=True))
        booking.run.update(active=False)
        if booking.slot.start > now:
            freed = [slot.pk for slot in _lock(ids or [booking.slot_id])]
            Slot.objects.filter(pk__in=freed, status=SlotStatus.BOOKED).update(
                status=SlotStatus.FREE, updated_at=now
            )
            _after_change(booking.slot_id)
    return booking


def holds_release_expired(*, now: datetime | None = None) -> int:
    """Free every slot whose hold has run out; returns how many. The slots of a run were
    held with one ``held_until``, so a run expires whole (reads already treat them as
    free). Slots another transaction has locked are left for the next sweep."""
    now = now or timezone.now()
    with transaction.atomic():
        expired = list(
            Slot.objects.select_for_update(of=("self",), skip_locked=True)
            .filter(status=SlotStatus.HELD, held_until__lt=now)
            .order_by("start", "pk")
            .values_list("id", "equipment__centre_id")
        )
        count = Slot.objects.filter(
            pk__in=[pk for pk, _ in expired], status=SlotStatus.HELD, held_until__lt=now
        ).update(
            status=SlotStatus.FREE, held_by=None, held_until=None, run_head=None, updated_at=now
        )
        centres = sorted({c for _, c in expired})
        if centres:
            transaction.on_commit(lambda: cache_write_quietly(centres))
    return count
