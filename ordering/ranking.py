"""Score every (procedure, centre, slot) option and keep every term of the score.

Ranking is a pure function of its inputs: the engine's ratings (reduced here to
what ranking needs), the free slots found for each procedure, and a versioned set
of weights. Each option carries its terms so that the page, the API and the CDS
card can all say *why* an option ranks where it does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# Categories on which ranking depends (the engine's vocabulary).
CONTRAINDICATED = "contraindicated"
# An exam scoring 1–3 on the 1–9 scale is "usually not appropriate".
NOT_APPROPRIATE_MAX_SCORE = 3


def not_appropriate(category: str, score: int) -> bool:
    """The one rule for "not worth a slot": contraindicated, or scoring 1–3."""
    return category == CONTRAINDICATED or score <= NOT_APPROPRIATE_MAX_SCORE


@dataclass(frozen=True)
class Weights:
    """How much each term counts, in points. Versioned; editors change them."""

    version: int = 0
    appropriateness: float = 60.0
    dose: float = 10.0
    redundancy: float = 25.0
    wait: float = 15.0
    distance: float = 10.0
    patient_fit: float = 15.0
    sector: float = 3.0
    # Beyond these, a longer wait or a longer trip costs no more points.
    wait_cap_days: float = 60.0
    distance_cap_km: float = 100.0

    def as_dict(self) -> dict[str, float]:
        return {
            "appropriateness": self.appropriateness,
            "dose": self.dose,
            "redundancy": self.redundancy,
            "wait": self.wait,
            "distance": self.distance,
            "patient_fit": self.patient_fit,
            "sector": self.sector,
            "wait_cap_days": self.wait_cap_days,
            "distance_cap_km": self.distance_cap_km,
        }


@dataclass(frozen=True)
class RatedProcedure:
    """What ranking needs of one engine rating."""

    procedure_code: str
    category: str
    score: int  # 1..9
    dose_class: int  # 0..4
    redundant: bool = False
    ionising: bool = False
    with_contrast: bool = False
    # The engine warned against this exam's contrast for this patient (eGFR < 30,
    # contrast allergy).
    contrast_warned: bool = False


@dataclass(frozen=True)
class SlotChoice:
    """What ranking needs of one free slot."""

    slot_id: int
    procedure_code: str
    centre_id: int
    start: datetime
    wait_days: float
    distance_km: float | None
    extra_fees: bool  # sector 2 or not contracted
    fits_patient: bool = True


@dataclass(frozen=True)
class RankedOption:
    rated: RatedProcedure
    slot: SlotChoice | None  # None: no free slot found for this exam
    total: float
    terms: dict[str, float] = field(default_factory=dict)
    # Placed after a safer exam at least as well rated: an ionising exam in pregnancy
    # (after a non-ionising one), a contrast exam the engine warned about (after one
    # without contrast).
    after_safer_alternative: bool = False

    @property
    def blocked(self) -> bool:
        return self.rated.category == CONTRAINDICATED


@dataclass(frozen=True)
class Ranking:
    options: list[RankedOption]
    weights_version: int
    # True when no candidate exam is appropriate: the page leads with that, not slots.
    no_imaging_indicated: bool


def _terms(rated: RatedProcedure, slot: SlotChoice | None, w: Weights) -> dict[str, float]:
    terms = {
        "appropriateness": w.appropriateness * (max(1, min(9, rated.score)) - 1) / 8,
        "dose": -w.dose * max(0, min(4, rated.dose_class)) / 4,
        "redundancy": -w.redundancy if rated.redundant else 0.0,
    }
    if slot is None:
        # No slot: the exam is still listed, after every exam that can be booked.
        terms["wait"] = -w.wait
        terms["distance"] = -w.distance
        terms["patient_fit"] = 0.0
        terms["sector"] = 0.0
        return terms
    terms["wait"] = -w.wait * min(max(slot.wait_days, 0.0), w.wait_cap_days) / w.wait_cap_days
    if slot.distance_km is None:
        terms["distance"] = -w.distance / 2
    else:
        km = min(max(slot.distance_km, 0.0), w.distance_cap_km)
        terms["distance"] = -w.distance * km / w.distance_cap_km
    terms["patient_fit"] = 0.0 if slot.fits_patient else -w.patient_fit
    terms["sector"] = -w.sector if slot.extra_fees else 0.0
    return terms


def _sort_key(option: RankedOption) -> tuple[int, int, int, float, str, float, int]:
    # Blocked (contraindicated) options always come last, then options with no slot;
    # within a group, an exam with a safer alternative at least as well rated comes after
    # it (pregnancy: non-ionising; a contrast warning: no contrast), then the higher score
    # first; ties broken deterministically.
    return (
        1 if option.blocked else 0,
        1 if option.slot is None else 0,
        1 if option.after_safer_alternative else 0,
        -option.total,
        option.rated.procedure_code,
        option.slot.start.timestamp() if option.slot else 0.0,
        option.slot.slot_id if option.slot else 0,
    )


def avoidable_in_pregnancy(rated: RatedProcedure, ratings: list[RatedProcedure]) -> bool:
    """An ionising exam with a non-ionising alternative worth a slot and rated at least
    as well: the guidance's "prefer a non-ionising exam" for a pregnant patient."""
    return rated.ionising and any(
        not other.ionising
        and not not_appropriate(other.category, other.score)
        and other.score >= rated.score
        for other in ratings
    )


def avoidable_contrast(rated: RatedProcedure, ratings: list[RatedProcedure]) -> bool:
    """A contrast exam the engine warned about (eGFR, allergy) with an alternative
    without contrast worth a slot and rated at least as well: offered first, as the
    contrast warning proposes."""
    return rated.contrast_warned and any(
        not other.with_contrast
        and not not_appropriate(other.category, other.score)
        and other.score >= rated.score
        for other in ratings
    )


def rank_options(
    *,
    ratings: list[RatedProcedure],
    slots: list[SlotChoice],
    weights: Weights,
    pregnant: bool = False,
) -> Ranking:
    by_procedure: dict[str, list[SlotChoice]] = {}
    for slot in slots:
        by_procedure.setdefault(slot.procedure_code, []).append(slot)
    options: list[RankedOption] = []
    for rated in ratings:
        deferred = (pregnant and avoidable_in_pregnancy(rated, ratings)) or avoidable_contrast(
            rated, ratings
        )
        candidates: list[SlotChoice | None] = list(by_procedure.get(rated.procedure_code, []))
        if not candidates:
            candidates = [None]
        for candidate in candidates:
            terms = _terms(rated, candidate, weights)
            options.append(
                RankedOption(
                    rated=rated,
                    slot=candidate,
                    total=round(sum(terms.values()), 3),
                    terms={k: round(v, 3) for k, v in terms.items()},
                    after_safer_alternative=deferred,
                )
            )
    options.sort(key=_sort_key)
    no_imaging = bool(ratings) and all(not_appropriate(r.category, r.score) for r in ratings)
    return Ranking(
        options=options, weights_version=weights.version, no_imaging_indicated=no_imaging
    )
