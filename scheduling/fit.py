"""Whether a machine, and its centre, can take an exam for a patient: the one rule that
the slot search, booking and the "no slot" explanation all apply.

It is kept apart from the search (scheduling.availability) so that the explanation
(scheduling.no_slot) can ask *which* constraint rules a machine out, not only whether.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from imaging_cds.vocab import Modality
from scheduling.cache import CentreFacts, MachineFacts

DEFAULT_RADIUS_KM = 50.0


@dataclass(frozen=True)
class ProcedureNeed:
    """What scheduling needs to know of a catalogue procedure (given by ordering)."""

    code: str
    modality: str
    needs_contrast: bool = False
    duration_minutes: int = 20
    needs_sedation: bool = False
    # The exam starts no sooner than this (the patient's journey, or tomorrow for an
    # exam that can wait weeks: ordering.decision.exam_not_before); None: any slot.
    not_before: datetime | None = None


class OpenBore(StrEnum):
    """How much a claustrophobic patient needs an open-bore MRI."""

    NO = "no"
    PREFERRED = "preferred"
    REQUIRED = "required"


@dataclass(frozen=True)
class PatientConstraints:
    weight_kg: float | None = None
    open_bore: OpenBore = OpenBore.NO
    paediatric: bool = False
    wheelchair: bool = False
    max_distance_km: float = DEFAULT_RADIUS_KM
    # Empty: any. Values of scheduling.models.PriceSector / CentreKind.
    sectors: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()
    not_before: datetime | None = None


class Misfit(StrEnum):
    """One reason a machine or its centre cannot take this patient."""

    # The patient's own constraints: no filter lifts them.
    WEIGHT = "weight"
    CHILD = "child"
    OPEN_BORE = "open_bore"
    WHEELCHAIR = "wheelchair"
    # The search's filters: the prescriber may lift them.
    SECTOR = "sector"
    KIND = "kind"


FILTER_MISFITS = frozenset({Misfit.SECTOR, Misfit.KIND})


def machine_performs(machine: MachineFacts, need: ProcedureNeed) -> bool:
    """The machine can perform the exam at all, whoever the patient."""
    if machine.procedure_codes and need.code not in machine.procedure_codes:
        return False
    if need.needs_contrast and not machine.contrast_injection:
        return False
    return not (need.needs_sedation and not machine.sedation)


def machine_misfits(
    machine: MachineFacts, need: ProcedureNeed, constraints: PatientConstraints
) -> tuple[Misfit, ...]:
    """What of this patient the machine cannot take (empty: it can)."""
    nothing_asked = constraints.weight_kg is None and not constraints.paediatric
    if nothing_asked and constraints.open_bore is not OpenBore.REQUIRED:
        return ()  # the common case, on the search's hot path
    misfits = []
    if constraints.weight_kg is not None and constraints.weight_kg > machine.table_max_weight_kg:
        misfits.append(Misfit.WEIGHT)
    if constraints.paediatric and not machine.paediatric:
        misfits.append(Misfit.CHILD)
    if (
        need.modality == Modality.MR
        and constraints.open_bore is OpenBore.REQUIRED
        and not machine.open_bore
    ):
        misfits.append(Misfit.OPEN_BORE)
    return tuple(misfits)


def centre_misfits(centre: CentreFacts, constraints: PatientConstraints) -> tuple[Misfit, ...]:
    """What of this patient, or of the search's filters, the centre does not meet."""
    if not (constraints.wheelchair or constraints.sectors or constraints.kinds):
        return ()  # the common case, on the search's hot path
    misfits = []
    if constraints.wheelchair and not centre.wheelchair_accessible:
        misfits.append(Misfit.WHEELCHAIR)
    if constraints.sectors and centre.sector not in constraints.sectors:
        misfits.append(Misfit.SECTOR)
    if constraints.kinds and centre.kind not in constraints.kinds:
        misfits.append(Misfit.KIND)
    return tuple(misfits)


def machine_fits(
    machine: MachineFacts, need: ProcedureNeed, constraints: PatientConstraints
) -> tuple[bool, tuple[str, ...]]:
    """Whether the machine can take the exam for this patient, and the preferences it
    leaves unmet (an open bore a claustrophobic patient would prefer)."""
    if not machine_performs(machine, need) or machine_misfits(machine, need, constraints):
        return False, ()
    if (
        need.modality == Modality.MR
        and constraints.open_bore is OpenBore.PREFERRED
        and not machine.open_bore
    ):
        return True, ("open_bore",)
    return True, ()


def slot_run(
    machine_slots: Sequence[tuple[float, float, int]], index: int, duration_seconds: float
) -> tuple[tuple[int, ...], float] | None:
    """The run of slots an exam takes from ``machine_slots[index]`` on, with its end.

    The one rule, for the search and for booking alike: an exam fits one slot at least
    as long as itself, or that slot and the slots right after it on the same machine,
    each starting where the previous one ends, until the exam's duration is covered.
    ``machine_slots`` are one machine's *free* slots as (start, end, id) timestamps,
    sorted by start: a slot taken in the middle leaves a gap, so no run crosses it.
    None when no such run starts there."""
    start, end, first = machine_slots[index]
    ids = [first]
    following = index + 1
    while end - start < duration_seconds:
        if following >= len(machine_slots) or machine_slots[following][0] != end:
            return None
        end = machine_slots[following][1]
        ids.append(machine_slots[following][2])
        following += 1
    return tuple(ids), end
