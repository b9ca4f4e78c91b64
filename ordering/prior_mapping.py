"""From a study a PACS described to a catalogue procedure, with a confidence.

The PACS gives modalities, a free-text description (French or English, often
upper case without accents) and sometimes a DICOM body part. We read a body
region and a contrast from those and pick the catalogue procedure of the same
modality that fits; the confidence says how much of that was read, not guessed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from guidelines.context import PriorExamFact
from guidelines.models import Contrast
from ordering.pacs.query import StudyRecord, same_modality

# The modality that names a multi-modality study, most specific first; object
# modalities (SR, PR, KO…) never name an exam.
MODALITY_PRECEDENCE = ("PT", "NM", "CT", "MR", "MG", "DX", "US")

# DICOM BodyPartExamined defined terms (PS3.16 Annex L) → catalogue body regions.
# Some terms are ambiguous between regions; the description or the modality decides.
_BODY_PART_REGIONS: dict[str, frozenset[str]] = {
    "HEAD": frozenset({"head"}),
    "BRAIN": frozenset({"head"}),
    "SKULL": frozenset({"head"}),
    "CHEST": frozenset({"chest"}),
    "THORAX": frozenset({"chest"}),
    "LUNG": frozenset({"chest"}),
    "LSPINE": frozenset({"lumbar_spine"}),
    "LUMBARSPINE": frozenset({"lumbar_spine"}),
    "CSPINE": frozenset({"cervical_spine"}),
    "KNEE": frozenset({"knee"}),
    "ANKLE": frozenset({"ankle"}),
    "SHOULDER": frozenset({"shoulder"}),
    "HIP": frozenset({"hip"}),
    "PELVIS": frozenset({"pelvis", "hip", "abdomen_pelvis"}),
    "ABDOMEN": frozenset({"abdomen", "abdomen_pelvis"}),
    "ABDOMENPELVIS": frozenset({"abdomen_pelvis"}),
    "BREAST": frozenset({"breast"}),
    "NECK": frozenset({"neck"}),
    "THYROID": frozenset({"neck"}),
    "KIDNEY": frozenset({"urinary_tract"}),
    "BLADDER": frozenset({"urinary_tract"}),
    "LEG": frozenset({"lower_limb_veins"}),
    "LOWERLIMB": frozenset({"lower_limb_veins"}),
    "WHOLEBODY": frozenset({"whole_body"}),
}

# Description words → region, tried in order; a matched phrase is removed so that
# "abdomino-pelvien" is not also read as "abdomen" and "pelvis".
_DESCRIPTION_REGION_TEXT: tuple[tuple[str, str], ...] = (
    (
        r"ABDOMINO ?PELVI|ABDO ?PELVI|ABDOMEN (AND|ET) PELVIS|ABDOMEN PELVIS|\bTAP\b",
        "abdomen_pelvis",
    ),
    (r"RACHIS LOMBAIRE|LOMBAIRE|LOMBO|LUMBAR|L ?SPINE", "lumbar_spine"),
    (r"RACHIS CERVICAL|CERVICAL SPINE|C ?SPINE", "cervical_spine"),
    (r"SCINTIGRAPHIE OSSEUSE|BONE SCAN|CORPS ENTIER|WHOLE ?BODY|OSSEUSE", "whole_body"),
    (r"VENTILATION|PERFUSION|\bV ?/ ?Q\b", "chest"),
    (r"VEINEU|VENOUS|PHLEB", "lower_limb_veins"),
    (r"CEREBR|CRANE|CRANI|ENCEPHAL|CERVEAU|BRAIN|\bHEAD\b|\bTETE\b", "head"),
    (r"THORA|PULMON|POUMON|CHEST|LUNG", "chest"),
    (r"MAMMO|\bSEINS?\b|MAMMAIRE|BREAST", "breast"),
    (r"GENOU|KNEE", "knee"),
    (r"CHEVILLE|ANKLE", "ankle"),
    (r"EPAULE|SHOULDER", "shoulder"),
    (r"HANCHE|BASSIN|\bHIP\b", "hip"),
    (r"RENAL|\bREINS?\b|VESIC|KIDNEY|BLADDER|URINAIRE|URINARY", "urinary_tract"),
    (r"THYROID|CERVICAL|\bCOU\b|\bNECK\b", "neck"),
    (r"ABDOM|HEPAT|\bFOIE\b|LIVER", "abdomen"),
    (r"PELVI", "pelvis"),
)
_DESCRIPTION_REGIONS = tuple(
    (re.compile(pattern), region) for pattern, region in _DESCRIPTION_REGION_TEXT
)

_NO_CONTRAST = re.compile(r"SANS (INJECTION|PC|CONTRASTE|GADO)|NON INJECTE|WITHOUT CONTRAST")
_CONTRAST = re.compile(r"INJECT|INJECTION|CONTRAST|\bPC\b|GADO|ANGIO|\bC ?\+")


@dataclass(frozen=True)
class CatalogueProcedure:
    """What mapping needs of a catalogue procedure (read once per lookup)."""

    code: str
    modality: str
    body_region: str
    contrast: str
    dose_class: int


@dataclass(frozen=True)
class Mapping:
    procedure: CatalogueProcedure | None
    modality: str
    body_region: str | None
    confidence: float


def normalise(text: str) -> str:
    """Upper case, accents and punctuation removed: PACS descriptions are written every way."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).upper()
    return re.sub(r"[^A-Z0-9+/ ]+", " ", plain).strip()


def primary_modality(modalities: Iterable[str]) -> str:
    present = {same_modality(code) for code in modalities}
    for code in MODALITY_PRECEDENCE:
        if code in present:
            return code
    return next(iter(sorted(present)), "")


def description_regions(description: str) -> list[str]:
    text = normalise(description)
    found: list[str] = []
    for pattern, region in _DESCRIPTION_REGIONS:
        if pattern.search(text):
            found.append(region)
            text = pattern.sub(" ", text)
    return found


def description_contrast(description: str, modality: str) -> str | None:
    text = normalise(description)
    if _NO_CONTRAST.search(text):
        return Contrast.NONE
    if _CONTRAST.search(text):
        return Contrast.GADOLINIUM if modality == "MR" else Contrast.IODINATED
    return None


def _pick(
    candidates: list[CatalogueProcedure], contrast: str | None
) -> tuple[CatalogueProcedure, float]:
    """The best of same-region candidates, and how much to trust the choice (0..1)."""
    if contrast is not None:
        fitting = [proc for proc in candidates if proc.contrast == contrast]
        if fitting:
            return fitting[0], 1.0 if len(fitting) == 1 else 0.8
    if len(candidates) == 1:
        return candidates[0], 1.0 if contrast is None else 0.8
    plain = [proc for proc in candidates if proc.contrast == Contrast.NONE]
    return (plain or candidates)[0], 0.7


def study_map(record: StudyRecord, catalogue: list[CatalogueProcedure]) -> Mapping:
    modality = primary_modality(record.modalities)
    same_modality = [proc for proc in catalogue if proc.modality == modality]
    if not same_modality:
        return Mapping(None, modality, None, 0.0)
    from_body_part = _BODY_PART_REGIONS.get(record.body_part.replace(" ", ""), frozenset())
    from_description = description_regions(record.description)
    contrast = description_contrast(record.description, modality)
    available = {proc.body_region for proc in same_modality}

    region: str | None = None
    confidence = 0.0
    agreed = [reg for reg in from_description if reg in from_body_part and reg in available]
    described = [reg for reg in from_description if reg in available]
    by_part = sorted(from_body_part & available)
    if agreed:
        region, confidence = agreed[0], 0.95
    elif described and not from_body_part:
        region, confidence = described[0], 0.8
    elif described:
        # The description and the body part disagree: the text is usually the more
        # careful of the two, but say so in the confidence.
        region, confidence = described[0], 0.5
    elif len(by_part) == 1:
        region, confidence = by_part[0], 0.7
    elif len(available) == 1:
        # One procedure of this modality in the catalogue (mammography): the modality says it.
        region, confidence = next(iter(available)), 0.6
    if region is None:
        return Mapping(None, modality, None, 0.0)
    procedure, trust = _pick(
        [proc for proc in same_modality if proc.body_region == region], contrast
    )
    return Mapping(procedure, modality, region, round(confidence * trust, 2))


def prior_fact(record: StudyRecord, mapping: Mapping) -> PriorExamFact | None:
    """The engine's view of a study; None for a study without a usable date."""
    if record.study_date is None:
        return None
    return PriorExamFact(
        performed_on=record.study_date,
        modality=mapping.modality,
        description=record.description,
        procedure_code=mapping.procedure.code if mapping.procedure else None,
        body_region=mapping.body_region,
        confidence=mapping.confidence,
        institution=record.institution,
    )
