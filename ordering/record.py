"""The stored consultation, read one way. The page, the REST API, CDS Hooks, the FHIR
ServiceRequest and signing all ask this reader "the rating of this exam", "the exams
worth booking" and "the patient context of this decision" instead of digging in the
consultation's JSON each in its own way."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from guidelines.context import PatientContext, PriorExamFact
from guidelines.models import Priority
from guidelines.selectors import indication_red_flags
from imaging_cds.vocab import IONISING_MODALITIES
from ordering.contract import postcode_notice
from ordering.models import Consultation
from ordering.ranking import RatedProcedure, not_appropriate
from scheduling.availability import OpenBore, PatientConstraints

PAEDIATRIC_AGE = 18
# A woman of these ages may be pregnant: before an ionising exam whose field takes in
# the abdomen or the pelvis, pregnancy is asked, never assumed (issue 15).
CHILDBEARING_AGES = range(12, 56)
PELVIC_FIELD_REGIONS = frozenset(
    {"abdomen", "pelvis", "abdomen_pelvis", "urinary_tract", "lumbar_spine", "hip"}
)


def localised(source: Any, key: str) -> str:
    """``key_fr`` or ``key_en`` of a recorded rating, finding or exam (a mapping or an
    object), by the language of the answer."""
    name = f"{key}_fr" if (get_language() or "fr").startswith("fr") else f"{key}_en"
    return str(source[name] if isinstance(source, Mapping) else getattr(source, name))


def priority_label(code: str, language: str | None = None) -> str:
    """The words for a rule's priority (urgent, within a week, within weeks), in the
    answer's language or the one asked: the page, the REST API and the CDS card all say
    it with guidelines.models.Priority's labels, never words of their own."""
    try:
        label = Priority(code).label
    except ValueError:
        return code
    if language is None:
        return str(label)
    with translation.override(language):
        return str(label)


def rating_offerable(rating: Mapping[str, Any]) -> bool:
    """An exam worth a slot: neither contraindicated nor "usually not appropriate"."""
    return not not_appropriate(str(rating["category"]), int(rating["score"]))


# The engine's warnings against an exam's contrast for this patient.
CONTRAST_WARNINGS = frozenset({"iodinated-low-egfr", "gadolinium-low-egfr", "contrast-allergy"})


def rated_procedure(rating: Mapping[str, Any]) -> RatedProcedure:
    """What ranking needs of a recorded rating."""
    return RatedProcedure(
        procedure_code=str(rating["procedure_code"]),
        category=str(rating["category"]),
        score=int(rating["score"]),
        dose_class=int(rating["dose_class"]),
        redundant=rating.get("redundancy") is not None,
        ionising=rating.get("modality") in IONISING_MODALITIES,
        with_contrast=rating.get("contrast", "none") != "none",
        contrast_warned=any(w.get("code") in CONTRAST_WARNINGS for w in rating.get("warnings", ())),
    )


def patient_context(
    inputs: Mapping[str, Any], prior_exams: tuple[PriorExamFact, ...], today: date
) -> PatientContext:
    """The engine's context from a consultation's recorded inputs: the decision and the
    re-rating at signing build it the same way."""
    patient = inputs["patient"]
    return PatientContext(
        age_years=int(patient["age_years"]),
        sex=patient["sex"],
        pregnancy=patient["pregnancy"],
        red_flags=frozenset(inputs.get("red_flags", ())),
        egfr=patient.get("egfr"),
        mri_unsafe_implant=bool(patient.get("mri_unsafe_implant")),
        contrast_allergy=bool(patient.get("contrast_allergy")),
        claustrophobia=bool(patient.get("claustrophobia")),
        weight_kg=patient.get("weight_kg"),
        reduced_mobility=bool(patient.get("reduced_mobility")),
        prior_exams=prior_exams,
        today=today,
    )


@dataclass(frozen=True)
class ConsultationRecord:
    consultation: Consultation

    @property
    def indication_code(self) -> str:
        return self.consultation.indication_code

    @property
    def patient(self) -> dict[str, Any]:
        patient: dict[str, Any] = self.consultation.inputs.get("patient", {})
        return patient

    @property
    def pregnant(self) -> bool:
        return self.patient.get("pregnancy") == "yes"

    @property
    def ratings(self) -> list[dict[str, Any]]:
        """Best first, as the engine ordered them."""
        ratings: list[dict[str, Any]] = self.consultation.outputs.get("ratings", [])
        return ratings

    @property
    def no_imaging_indicated(self) -> bool:
        return bool(self.consultation.outputs.get("no_imaging_indicated"))

    @property
    def understanding(self) -> dict[str, Any] | None:
        """What was read from an order text (guidelines.understanding), if one was."""
        found: dict[str, Any] | None = self.consultation.inputs.get("understanding")
        return found

    def red_flag_labels(self) -> dict[str, str]:
        """The indication's red flags, code -> label in the answer's language."""
        flags = indication_red_flags(code=self.indication_code)
        return {flag["code"]: localised(flag, "label") for flag in flags}

    def rating(self, procedure_code: str) -> dict[str, Any] | None:
        return next((r for r in self.ratings if r["procedure_code"] == procedure_code), None)

    def bookable(self) -> list[dict[str, Any]]:
        """The exams worth booking, best first: the only ones offered slots."""
        return [r for r in self.ratings if rating_offerable(r)]

    def offered_rating(self, procedure_code: str) -> dict[str, Any]:
        """The rating of an exam this decision offers, or ValidationError."""
        rating = self.rating(procedure_code)
        if rating is None or not rating_offerable(rating):
            raise ValidationError(
                _("This exam is not one of the options offered."), code="not_offered"
            )
        return rating

    def notices(self) -> list[dict[str, str]]:
        """Facts given that the answer could not use as asked, in the page's language:
        the options page shows them above the options, the REST answer lists them."""
        notice = postcode_notice(str(self.patient.get("postcode") or ""))
        if notice is None:
            return []
        return [{"code": "postcode_outside_territory", "field": "postcode", "message": notice}]

    def pregnancy_unanswered(self, modality: str, body_region: str) -> bool:
        """True when this exam may not be ordered before pregnancy is answered: a woman
        of 12 to 55 whose pregnancy is not known, and an ionising exam of the abdomen
        or pelvis."""
        patient = self.patient
        return (
            patient.get("sex") == "F"
            and int(patient.get("age_years", -1)) in CHILDBEARING_AGES
            and patient.get("pregnancy", "unknown") == "unknown"
            and modality in IONISING_MODALITIES
            and body_region in PELVIC_FIELD_REGIONS
        )

    def context(self, prior_exams: tuple[PriorExamFact, ...], today: date) -> PatientContext:
        return patient_context(self.consultation.inputs, prior_exams, today)

    def constraints(self, **search: Any) -> PatientConstraints:
        """What the patient needs of a machine and a centre, plus the search's own
        limits (distance, sector, date) when given."""
        patient = self.patient
        return PatientConstraints(
            weight_kg=patient.get("weight_kg"),
            open_bore=OpenBore.PREFERRED if patient.get("claustrophobia") else OpenBore.NO,
            paediatric=int(patient["age_years"]) < PAEDIATRIC_AGE,
            wheelchair=bool(patient.get("reduced_mobility")),
            **search,
        )
