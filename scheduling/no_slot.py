"""Why a search found no slot for an exam, and what the prescriber can do about it.

Computed once, by the search (scheduling.availability), for each exam it found no
slot for; the page, the REST API and the CDS card all show the same
:class:`NoSlotReason`. An action is proposed only when it would help: "widen the
distance" only when a wider search did find a free slot (and says how far), "lift
the filters" only when a filter is what rules the machines out, "call the centre"
only when a centre near enough can perform the exam for this patient.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from django.db.models import Q
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from scheduling.cache import Entry, MachineFacts
from scheduling.fit import (
    FILTER_MISFITS,
    Misfit,
    PatientConstraints,
    ProcedureNeed,
    centre_misfits,
    machine_misfits,
    machine_performs,
    slot_run,
)
from scheduling.models import Centre, Slot, SlotStatus

# The widest distance the prescriber's filter accepts (ordering.forms.FilterForm): a
# wider search is never suggested beyond it.
MAX_RADIUS_KM = 500.0
# How many centres "call the centre" names.
CENTRES_TO_CALL = 3
# Rows read when looking for the next free run after the horizon.
NEXT_FREE_ROWS = 2000


class NoSlotCause(StrEnum):
    NO_MACHINE = "no_machine"  # no machine performs the exam within the distance
    NONE_FREE = "none_free"  # machines perform it, none has a free run within the horizon
    PATIENT = "patient"  # the patient's constraints rule every machine out
    FILTERS = "filters"  # the search's filters rule out the machines that could


class NoSlotAction(StrEnum):
    WIDEN_DISTANCE = "widen_distance"
    LIFT_FILTERS = "lift_filters"
    CALL_CENTRE = "call_centre"
    ORDER_WITHOUT_BOOKING = "order_without_booking"


MISFIT_LABELS = {
    Misfit.WEIGHT: gettext_lazy("the patient's weight is above the table's limit"),
    Misfit.CHILD: gettext_lazy("not equipped for children"),
    Misfit.OPEN_BORE: gettext_lazy("an open-bore MRI is required"),
    Misfit.WHEELCHAIR: gettext_lazy("not wheelchair accessible"),
    Misfit.SECTOR: gettext_lazy("the price sector filter"),
    Misfit.KIND: gettext_lazy("the “public hospitals only” filter"),
}


@dataclass(frozen=True)
class CentreContact:
    name: str
    town: str
    phone: str
    distance_km: float


@dataclass(frozen=True)
class NoSlotReason:
    procedure_code: str
    cause: NoSlotCause
    radius_km: float
    horizon_days: int
    # The constraints and filters that rule the machines out (cause PATIENT or FILTERS).
    excluded_by: tuple[Misfit, ...] = ()
    # The first free run known after the horizon (or missed by the cache), if any.
    next_free: datetime | None = None
    # The distance at which a wider search found a free slot; None: widening does not help.
    widen_to_km: int | None = None
    nearest_km: float | None = None
    centres: tuple[CentreContact, ...] = ()
    actions: tuple[NoSlotAction, ...] = ()

    @property
    def anywhere(self) -> bool:
        """The search had no distance limit (no known postcode)."""
        return self.radius_km >= MAX_RADIUS_KM

    def message(self) -> str:
        """Why there is no slot, in one or two sentences."""
        if self.anywhere:
            where = _("in the whole territory")
        else:
            where = _("within %(km)s km") % {"km": f"{self.radius_km:.0f}"}
        if self.cause is NoSlotCause.NO_MACHINE:
            return _("No machine performs this exam %(where)s.") % {"where": where}
        if self.cause is NoSlotCause.NONE_FREE:
            text = ngettext(
                "The machines that perform this exam %(where)s have no free slot "
                "in the next %(days)s day.",
                "The machines that perform this exam %(where)s have no free slot "
                "in the next %(days)s days.",
                self.horizon_days,
            ) % {"where": where, "days": self.horizon_days}
            if self.next_free is not None:
                when = formats.date_format(timezone.localtime(self.next_free), "DATE_FORMAT")
                text += " " + _("Next free slot known: %(date)s.") % {"date": when}
            return text
        reasons = ", ".join(str(MISFIT_LABELS[m]) for m in self.excluded_by)
        if self.cause is NoSlotCause.FILTERS:
            return _(
                "The search's filters exclude the machines %(where)s that could take this "
                "patient (%(reasons)s)."
            ) % {"where": where, "reasons": reasons}
        return _(
            "The machines that perform this exam %(where)s cannot take this patient (%(reasons)s)."
        ) % {"where": where, "reasons": reasons}

    def advice(self) -> list[str]:
        """What to do, one sentence per useful action, most useful first."""
        return [text for _action, text in self.advice_items()]

    def advice_items(self) -> list[tuple[str, str]]:
        """(action, sentence) pairs, for a page that links an action to its control."""
        items = []
        for action in self.actions:
            if action is NoSlotAction.WIDEN_DISTANCE:
                text = _(
                    "Widen the distance to %(km)s km: the nearest free slot is %(nearest)s km away."
                ) % {"km": self.widen_to_km, "nearest": f"{self.nearest_km:.0f}"}
            elif action is NoSlotAction.LIFT_FILTERS:
                text = _("Lift the search's filters.")
            elif action is NoSlotAction.CALL_CENTRE:
                names = "; ".join(
                    f"{c.name} ({c.town})" + (f", {c.phone}" if c.phone else "")
                    for c in self.centres
                )
                text = _("Call the centre: %(centres)s.") % {"centres": names}
            else:
                text = _("Sign the order without a booking: the patient books the appointment.")
            items.append((str(action), text))
        return items

    def as_dict(self) -> dict[str, Any]:
        """The reason as the REST API and the CDS card give it (words in the request's
        language, codes for a program)."""
        return {
            "cause": str(self.cause),
            "message": self.message(),
            "advice": self.advice(),
            "actions": [str(a) for a in self.actions],
            "excluded_by": [str(m) for m in self.excluded_by],
            "radius_km": self.radius_km,
            "horizon_days": self.horizon_days,
            "widen_to_km": self.widen_to_km,
            "next_free": self.next_free,
            "centres": [
                {"name": c.name, "town": c.town, "phone": c.phone, "distance_km": c.distance_km}
                for c in self.centres
            ],
        }


@dataclass(frozen=True)
class _Performer:
    entry: Entry
    machine: MachineFacts
    km: float
    misfits: tuple[Misfit, ...]


def _widen_to(nearest_km: float | None, radius_km: float) -> int | None:
    """The filter value to suggest: the nearest free slot's distance rounded up to 10 km,
    within what the filter accepts."""
    if nearest_km is None or nearest_km <= radius_km:
        return None
    value = int(math.ceil(nearest_km / 10.0) * 10)
    return value if value <= MAX_RADIUS_KM else None


def _contacts(performers: list[_Performer]) -> tuple[CentreContact, ...]:
    nearest: dict[int, float] = {}
    for p in sorted(performers, key=lambda p: p.km):
        nearest.setdefault(p.entry.centre.id, p.km)
    ids = list(nearest)[:CENTRES_TO_CALL]
    phones = dict(Centre.objects.filter(pk__in=ids).values_list("pk", "phone"))
    by_id = {p.entry.centre.id: p.entry.centre for p in performers}
    return tuple(
        CentreContact(by_id[i].name, by_id[i].town, phones.get(i, ""), round(nearest[i], 1))
        for i in ids
    )


def _next_free(machine_ids: list[int], need: ProcedureNeed, after: float) -> datetime | None:
    """The first start, after ``after``, of a run of free slots long enough for the exam
    on one of these machines, from the database (the cache stops at the horizon)."""
    now = timezone.now()
    available = Q(status=SlotStatus.FREE) | Q(status=SlotStatus.HELD, held_until__lt=now)
    rows = (
        Slot.objects.filter(available, equipment_id__in=machine_ids)
        .filter(start__gte=datetime.fromtimestamp(after, tz=timezone.get_current_timezone()))
        .order_by("start", "pk")
        .values_list("start", "end", "pk", "equipment_id")[:NEXT_FREE_ROWS]
    )
    per_machine: dict[int, list[tuple[float, float, int]]] = {}
    for start, end, pk, machine_id in rows:
        per_machine.setdefault(machine_id, []).append((start.timestamp(), end.timestamp(), pk))
    duration = need.duration_minutes * 60
    firsts = []
    for slots in per_machine.values():
        for index in range(len(slots)):
            if slot_run(slots, index, duration) is not None:
                firsts.append(slots[index][0])
                break
    if not firsts:
        return None
    return datetime.fromtimestamp(min(firsts), tz=timezone.get_current_timezone())


def no_slot_reason(
    *,
    need: ProcedureNeed,
    candidates: Iterable[tuple[str, Entry, float]],
    constraints: PatientConstraints,
    window: tuple[float, float],
    horizon_days: int,
    nearest_beyond: Callable[[], float | None],
) -> NoSlotReason:
    """The reason for one exam the search found no slot for. ``candidates`` are the
    (modality, cache entry, distance) the search read; ``nearest_beyond`` runs the same
    search farther and gives the distance of the nearest free slot it finds."""
    radius = constraints.max_distance_km
    performers = [
        _Performer(
            entry,
            machine,
            km,
            machine_misfits(machine, need, constraints) + centre_misfits(entry.centre, constraints),
        )
        for modality, entry, km in candidates
        if modality == need.modality
        for machine in entry.machines.values()
        if machine_performs(machine, need)
    ]
    nearest = nearest_beyond() if radius < MAX_RADIUS_KM else None
    widen = _widen_to(nearest, radius)
    actions: list[NoSlotAction] = [NoSlotAction.WIDEN_DISTANCE] if widen else []
    if not performers:
        return NoSlotReason(
            cause=NoSlotCause.NO_MACHINE,
            widen_to_km=widen,
            nearest_km=nearest,
            actions=(*actions, NoSlotAction.ORDER_WITHOUT_BOOKING),
            procedure_code=need.code,
            radius_km=radius,
            horizon_days=horizon_days,
        )
    fitting = [p for p in performers if not p.misfits]
    if not fitting:
        excluded = tuple(sorted({m for p in performers for m in p.misfits}))
        # A machine ruled out by filters alone is one the prescriber can get back.
        by_filters = any(set(p.misfits) <= FILTER_MISFITS for p in performers)
        if by_filters:
            actions.insert(0, NoSlotAction.LIFT_FILTERS)
        return NoSlotReason(
            cause=NoSlotCause.FILTERS if by_filters else NoSlotCause.PATIENT,
            excluded_by=excluded,
            widen_to_km=widen,
            nearest_km=nearest,
            actions=(*actions, NoSlotAction.ORDER_WITHOUT_BOOKING),
            procedure_code=need.code,
            radius_km=radius,
            horizon_days=horizon_days,
        )
    return NoSlotReason(
        cause=NoSlotCause.NONE_FREE,
        next_free=_next_free([p.machine.id for p in fitting], need, window[0]),
        widen_to_km=widen,
        nearest_km=nearest,
        centres=_contacts(fitting),
        actions=(*actions, NoSlotAction.CALL_CENTRE, NoSlotAction.ORDER_WITHOUT_BOOKING),
        procedure_code=need.code,
        radius_km=radius,
        horizon_days=horizon_days,
    )
