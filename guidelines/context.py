"""The patient context the engine reads: typed, validated once, the same whether it
came from the prescriber's form, a CDS Hooks prefetch or the REST API."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

Sex = Literal["F", "M", "U"]
Pregnancy = Literal["yes", "no", "unknown"]


@dataclass(frozen=True)
class PriorExamFact:
    """A prior exam as the engine sees it: mapped (or not) to a catalogue procedure."""

    performed_on: date
    modality: str
    description: str = ""
    procedure_code: str | None = None  # None when the study could not be mapped
    body_region: str | None = None
    confidence: float = 0.0  # of the mapping, 0..1
    institution: str = ""


@dataclass(frozen=True)
class PatientContext:
    age_years: int
    sex: Sex = "U"
    pregnancy: Pregnancy = "unknown"
    red_flags: frozenset[str] = frozenset()
    egfr: float | None = None  # mL/min/1.73 m²
    mri_unsafe_implant: bool = False
    contrast_allergy: bool = False
    claustrophobia: bool = False
    weight_kg: float | None = None
    reduced_mobility: bool = False
    prior_exams: tuple[PriorExamFact, ...] = field(default_factory=tuple)
    # The day the decision is made, so that "within N days" is deterministic.
    today: date = field(default_factory=date.today)
