"""One input contract for what a decision needs: the patient's identity and context,
the indication and its red flags. The prescriber form, the REST serializers and the
CDS Hooks reader each parse their own format into plain Python values, then call
the functions here, which check every value the same way and say what is wrong in
the same words, field by field. Nothing a caller gave is dropped: a value that
cannot be used is an :class:`InputError`, never a silent default."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guidelines.engine import CompiledRuleSet, NoPublishedRuleSet, published_rule_set_compiled
from guidelines.resolve import ICD10_QUERY, SNOMED_QUERY, resolve
from guidelines.understanding import Understanding, understand
from imaging_cds.pseudonym import pseudonymise
from scheduling.geo import commune_lookup

SEXES = ("F", "M", "U")
PREGNANCY_ANSWERS = ("yes", "no", "unknown")
IDENTIFIER_KINDS = ("ins", "local")
# The widest values a prescriber can mean: a premature newborn to the heaviest patient
# any imaging table takes; an eGFR below 1 or above 200 mL/min/1.73 m² is a typing error.
WEIGHT_KG_MIN, WEIGHT_KG_MAX = 0.5, 350.0
EGFR_MIN, EGFR_MAX = 1.0, 200.0
MAX_AGE_YEARS = 120
MAX_RED_FLAGS = 30

_INS_RE = re.compile(r"^[12][0-9]{2}(0[1-9]|1[0-2]|[2-9][0-9])(2[AB]|[0-9]{2})[0-9]{6}[0-9]{2}$")
_LOCAL_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{2,39}$")
_POSTCODE_RE = re.compile(r"^(?:[0-9]{5}|2[AB][0-9]{3})$")

# How each field is named to a prescriber, where the message stands alone (a CDS card).
FIELD_LABELS = {
    "identifier": gettext_lazy("Patient identifier"),
    "identifier_kind": gettext_lazy("Identifier type"),
    "birth_date": gettext_lazy("Birth date"),
    "sex": gettext_lazy("Sex"),
    "postcode": gettext_lazy("Postcode of residence"),
    "pregnancy": gettext_lazy("Pregnancy"),
    "weight_kg": gettext_lazy("Weight (kg)"),
    "egfr": gettext_lazy("eGFR (mL/min/1.73 m²)"),
    "egfr_date": gettext_lazy("eGFR measured on"),
    "birth_name": gettext_lazy("Birth name"),
    "given_names": gettext_lazy("First given name(s)"),
    "indication_code": gettext_lazy("Clinical indication"),
    "red_flags": gettext_lazy("Red flags"),
    "red_flags_absent": gettext_lazy("Red flags stated absent"),
}
PATIENT_FIELDS = frozenset(
    {
        "identifier",
        "identifier_kind",
        "birth_date",
        "sex",
        "postcode",
        "pregnancy",
        "weight_kg",
        "egfr",
        "egfr_date",
    }
)
# A name is letters (any script's), with the spaces, hyphens, apostrophes and dots
# civil-status names carry between them ("LE GOFF", "N'DIAYE", "Jean-Marie").
_NAME_RE = re.compile(r"^[^\W\d_]+(?:[ '’.-]+[^\W\d_]+)*\.?$")
NAME_MAX_LENGTH = 100


class InputError(ValueError):
    """Every problem found in one input, by field name (the names of this module)."""

    def __init__(self, errors: Mapping[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors: dict[str, list[str]] = {k: list(v) for k, v in errors.items()}

    def lines(self) -> list[str]:
        """One "label: message" line per problem, for an answer with no form beside it."""
        return [
            _("%(field)s: %(message)s") % {"field": FIELD_LABELS.get(name, name), "message": text}
            for name, messages in self.errors.items()
            for text in messages
        ]


def patient_issuer(identifier_kind: str) -> str | None:
    """The IssuerOfPatientID the PACS records for this kind of identifier (None: any)."""
    value = (
        settings.PATIENT_ISSUER_INS if identifier_kind == "ins" else settings.PATIENT_ISSUER_LOCAL
    )
    return value or None


def identifier_normalise(value: str) -> str:
    return "".join(str(value).split()).upper()


def patient_reference(identifier_kind: str, identifier: str) -> str:
    """The keyed pseudonym a consultation keeps instead of the identifier."""
    return pseudonymise(f"{identifier_kind}|{identifier_normalise(identifier)}")


def ins_is_valid(value: str) -> bool:
    """The INS is the NIR: 13 characters and a 2-digit key, 97 - (number mod 97).
    Corsica's 2A/2B count as 19/18 for the key."""
    if not _INS_RE.match(value):
        return False
    body = value[:13].replace("2A", "19").replace("2B", "18")
    return 97 - int(body) % 97 == int(value[13:])


def age_in_years(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


@dataclass(frozen=True)
class PatientInput:
    """What the prescriber said of the patient, checked. The identifier is used for
    the PACS query and kept on the order only; the consultation keeps its keyed hash."""

    identifier: str
    identifier_kind: str  # "ins" or "local"
    birth_date: date
    sex: str
    postcode: str  # "" when not given: options are then not sorted by distance
    pregnancy: str = "unknown"
    weight_kg: float | None = None
    egfr: float | None = None
    mri_unsafe_implant: bool = False
    contrast_allergy: bool = False
    claustrophobia: bool = False
    reduced_mobility: bool = False
    # When the eGFR was measured: the centre judges contrast on a recent value.
    egfr_date: date | None = None

    @property
    def issuer(self) -> str | None:
        return patient_issuer(self.identifier_kind)

    @property
    def reference(self) -> str:
        return patient_reference(self.identifier_kind, self.identifier)


@dataclass(frozen=True)
class ClinicalInput:
    indication_code: str  # "" when a text named no situation of the pack with certainty
    red_flags: frozenset[str] = frozenset()  # stated present
    red_flags_absent: frozenset[str] = frozenset()  # stated absent (kept in the record)
    # What was read from the order text, when the indication came from one.
    understanding: Understanding | None = None


@dataclass(frozen=True)
class DecisionInput:
    patient: PatientInput
    clinical: ClinicalInput


def _identifier_problem(identifier: str, kind: str) -> str | None:
    if not identifier:
        # Not given (an EHR's Patient may have none): the exam is still rated, prior
        # exams are said unavailable, and no order can be signed on it.
        return None
    if kind == "ins" and not ins_is_valid(identifier):
        return _("This is not a valid INS: 15 characters whose last two are the key.")
    if kind == "local" and not _LOCAL_ID_RE.match(identifier):
        return _("A local identifier has 3 to 40 letters, digits, dots, dashes, underscores.")
    return None


def postcode_problem(postcode: str) -> str | None:
    """Why a given postcode is not a postcode at all (refused), or None ("" is "not
    given"). One outside the territory is a postcode: see postcode_notice."""
    if not postcode:
        return None
    if not _POSTCODE_RE.match(postcode):
        return _("A French postcode has five digits.")
    return None


def postcode_notice(postcode: str) -> str | None:
    """What the answer must say when a valid postcode is outside the territory the
    platform knows: the decision and the order go ahead (a patient from elsewhere
    is still a patient), and the centres are listed without distances. Every entry
    point shows it: the options page, the REST answer's ``notices``, a CDS card."""
    if not postcode or postcode_problem(postcode) or commune_lookup(postcode=postcode):
        return None
    return _(
        "The postcode %(postcode)s is outside the territory this service knows: centres "
        "are listed by first free slot, without distances."
    ) % {"postcode": postcode}


def _decimal(value: float) -> str:
    """350, 0,5: no trailing zero, the language's decimal mark."""
    return f"{value:g}".replace(".", str(formats.get_format("DECIMAL_SEPARATOR")))


def _number_problem(value: float | None, low: float, high: float, unit: str) -> str | None:
    if value is None:
        return None
    if not math.isfinite(value) or not low <= value <= high:
        return _("Enter a value between %(low)s and %(high)s %(unit)s.") % {
            "low": _decimal(low),
            "high": _decimal(high),
            "unit": unit,
        }
    return None


def patient_validate(
    *,
    identifier: str | None,
    identifier_kind: str | None,
    birth_date: date | None,
    sex: str | None,
    postcode: str | None = None,
    pregnancy: str | None = "unknown",
    weight_kg: float | None = None,
    egfr: float | None = None,
    mri_unsafe_implant: bool = False,
    contrast_allergy: bool = False,
    claustrophobia: bool = False,
    reduced_mobility: bool = False,
    egfr_date: date | None = None,
    today: date | None = None,
) -> PatientInput:
    """The checked patient, or InputError naming every field that cannot be used."""
    today = today or timezone.localdate()
    errors: dict[str, list[str]] = {}

    def refuse(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    kind = identifier_kind or ""
    if kind not in IDENTIFIER_KINDS:
        refuse("identifier_kind", _("The identifier type is 'ins' or 'local'."))
    ident = identifier_normalise(identifier or "")
    problem = _identifier_problem(ident, kind) if kind in IDENTIFIER_KINDS else None
    if problem:
        refuse("identifier", problem)
    if birth_date is None:
        refuse("birth_date", _("The birth date is required."))
    elif birth_date > today:
        refuse("birth_date", _("The birth date is in the future."))
    elif age_in_years(birth_date, today) > MAX_AGE_YEARS:
        refuse("birth_date", _("The birth date is more than 120 years ago."))
    if sex not in SEXES:
        refuse("sex", _("The sex is F, M or U (unknown)."))
    pregnancy = pregnancy or "unknown"
    if pregnancy not in PREGNANCY_ANSWERS:
        refuse("pregnancy", _("Pregnancy is 'yes', 'no' or 'unknown'."))
    elif sex == "M" and pregnancy == "yes":
        refuse("pregnancy", _("Pregnancy cannot be 'yes' for a male patient."))
    code = (postcode or "").strip().upper()
    problem = postcode_problem(code)
    if problem:
        refuse("postcode", problem)
    for name, value, low, high, unit in (
        ("weight_kg", weight_kg, WEIGHT_KG_MIN, WEIGHT_KG_MAX, "kg"),
        ("egfr", egfr, EGFR_MIN, EGFR_MAX, "mL/min/1.73 m²"),
    ):
        problem = _number_problem(value, low, high, unit)
        if problem:
            refuse(name, problem)
    if egfr_date is not None:
        if egfr is None:
            refuse("egfr_date", _("A date of eGFR needs the eGFR value."))
        elif egfr_date > today:
            refuse("egfr_date", _("The eGFR date is in the future."))
        elif birth_date is not None and egfr_date < birth_date:
            refuse("egfr_date", _("The eGFR date is before the birth date."))
    if errors:
        raise InputError(errors)
    assert birth_date is not None and sex is not None
    return PatientInput(
        identifier=ident,
        identifier_kind=kind,
        birth_date=birth_date,
        sex=sex,
        postcode=code,
        pregnancy=pregnancy,
        weight_kg=None if weight_kg is None else round(float(weight_kg), 1),
        egfr=None if egfr is None else round(float(egfr), 1),
        mri_unsafe_implant=bool(mri_unsafe_implant),
        contrast_allergy=bool(contrast_allergy),
        claustrophobia=bool(claustrophobia),
        reduced_mobility=bool(reduced_mobility),
        egfr_date=egfr_date if egfr is not None else None,
    )


@dataclass(frozen=True)
class IdentityTraits:
    """The names an imaging centre needs to identify the patient (INS traits besides
    the identifier, birth date and sex). They go on the order only."""

    birth_name: str
    given_names: str


def _name_clean(value: str | None) -> str:
    return " ".join(str(value or "").split())


def identity_traits_validate(*, birth_name: str | None, given_names: str | None) -> IdentityTraits:
    """The patient's birth name and first given name(s), checked, or InputError."""
    errors: dict[str, list[str]] = {}
    cleaned = {"birth_name": _name_clean(birth_name), "given_names": _name_clean(given_names)}
    for name, value in cleaned.items():
        if not value:
            errors[name] = [
                _("This name is required: the imaging centre identifies the patient by it.")
            ]
        elif len(value) > NAME_MAX_LENGTH:
            errors[name] = [_("At most 100 characters.")]
        elif not _NAME_RE.match(value):
            errors[name] = [_("Letters only, with spaces, hyphens or apostrophes between them.")]
    if errors:
        raise InputError(errors)
    return IdentityTraits(
        birth_name=cleaned["birth_name"].upper(), given_names=cleaned["given_names"]
    )


def _rules(rules: CompiledRuleSet | None) -> CompiledRuleSet | None:
    if rules is not None:
        return rules
    try:
        return published_rule_set_compiled()
    except NoPublishedRuleSet:
        return None


def indication_red_flags(indication_code: str, rules: CompiledRuleSet | None = None) -> list[str]:
    """The red-flag codes an indication of the published rule set knows, sorted."""
    compiled = _rules(rules)
    entry = compiled.entries.get(indication_code) if compiled else None
    return sorted(entry.indication.red_flags) if entry else []


def _standard_code(
    code: str, text: str, compiled: CompiledRuleSet
) -> tuple[str | None, Understanding | None, str | None]:
    """Our indication for a CIM-10 / ICD-10(-CM) or SNOMED CT code: (code, what the text
    said, problem); (None, None, None) when no situation carries it. A code two
    situations share is decided by the text, if any."""
    found = [c for c in resolve(code, compiled, limit=10) if c.score >= 0.8]
    if not found:  # a real code of a situation the guidelines do not cover
        return None, None, None
    best = [c.code for c in found if c.score == found[0].score]
    reading = understand(text, compiled) if text else None
    if len(best) > 1 and reading is not None:
        ranked = [s.code for s in reading.suggestions if s.code in best]
        if ranked:
            return ranked[0], reading, None
    if len(best) > 1:
        return (
            None,
            reading,
            _("The code “%(code)s” matches several situations (%(codes)s): give one of them.")
            % {"code": code[:40], "codes": ", ".join(best)},
        )
    return best[0], reading, None


def clinical_validate(
    *,
    indication_code: str | None,
    red_flags: Iterable[str] = (),
    red_flags_absent: Iterable[str] = (),
    indication_text: str | None = None,
    rules: CompiledRuleSet | None = None,
) -> ClinicalInput:
    """The indication is one of the published rule set: our code, a CIM-10 / ICD-10-CM
    or SNOMED CT code one of its situations carries, or what an order text says (read
    by guidelines.understanding; a text that names no situation with certainty gives
    "no guideline applies", indication ""). Every red flag must be one of that
    indication's: an unknown code is refused with the list of valid ones. Red flags
    the text states present or absent are added to those given, never against them."""
    errors: dict[str, list[str]] = {}
    compiled = _rules(rules)
    code = (indication_code or "").strip()
    text = (indication_text or "").strip()
    present, absent = frozenset(red_flags), frozenset(red_flags_absent)
    reading: Understanding | None = None
    if compiled is None:
        raise InputError({"indication_code": [_("No guideline rule set is published yet.")]})
    if code and code not in compiled.entries:
        if ICD10_QUERY.match(code) or SNOMED_QUERY.match(code):
            mapped, reading, problem = _standard_code(code, text, compiled)
            if problem:
                errors["indication_code"] = [problem]
            elif mapped is None and text:
                reading = understand(text, compiled)
                mapped = reading.indication_code
            code = mapped or ""
        else:
            errors["indication_code"] = [
                _("Choose the clinical indication from the list: “%(code)s” is not one.")
                % {"code": code[:80]}
            ]
    elif not code and text:
        reading = understand(text, compiled)
        code = reading.indication_code or ""
        if not code and (present or absent):
            errors["red_flags"] = [
                _(
                    "Red flags were given but the text names no situation with certainty: "
                    "give the indication's code."
                )
            ]
    elif not code:
        errors["indication_code"] = [_("Choose the clinical indication.")]
    if code and not errors:
        valid = indication_red_flags(code, compiled)
        for name, given in (("red_flags", present), ("red_flags_absent", absent)):
            unknown = sorted(given - set(valid))
            if len(given) > MAX_RED_FLAGS:
                errors[name] = [_("At most %(n)s red flags.") % {"n": MAX_RED_FLAGS}]
            elif unknown:
                errors[name] = [
                    _("Unknown red flag for this indication: %(unknown)s. Valid codes: %(valid)s.")
                    % {
                        "unknown": ", ".join(u[:80] for u in unknown),
                        "valid": ", ".join(valid) or _("none"),
                    }
                ]
        both = sorted(present & absent)
        if both and "red_flags" not in errors:
            errors["red_flags_absent"] = [
                _("A red flag cannot be both present and absent: %(codes)s.")
                % {"codes": ", ".join(both)}
            ]
    if errors:
        raise InputError(errors)
    if reading is not None and code:
        read_present, read_absent = reading.flags_for(code)
        present = present | (read_present - absent)
        absent = absent | (read_absent - present)
    return ClinicalInput(code, present, absent, reading)


# Risk facts an order text states, as the patient's facts they set.
_RISK_FLAGS = {
    "contrast-allergy": "contrast_allergy",
    "mri-unsafe-implant": "mri_unsafe_implant",
    "claustrophobia": "claustrophobia",
}


def patient_with_text(
    patient: Mapping[str, object], reading: Understanding | None
) -> tuple[dict[str, object], dict[str, list[str]]]:
    """The patient's facts with what the order text states added: a fact the text
    states and the structured data left open is taken (and the answer says so); a
    fact the text contradicts is an error on that field."""
    facts = dict(patient)
    errors: dict[str, list[str]] = {}
    if reading is None:
        return facts, errors
    pregnancy = facts.get("pregnancy") or "unknown"
    said = (
        "yes"
        if "pregnancy" in reading.risks
        else "no"
        if "pregnancy" in reading.risks_absent
        else None
    )
    if said and pregnancy == "unknown":
        facts["pregnancy"] = said
    elif said and pregnancy != said:
        errors["pregnancy"] = [
            _("The order text says “pregnant: %(text)s” but pregnancy is “%(given)s”.")
            % {"text": said, "given": pregnancy}
        ]
    for risk, name in _RISK_FLAGS.items():
        if risk in reading.risks:
            facts[name] = True
    read = reading.facts
    if read.sex and facts.get("sex") in (None, "", "U"):
        facts["sex"] = read.sex
    elif read.sex and facts.get("sex") != read.sex:
        errors["sex"] = [
            _("The order text says sex %(text)s but the patient's sex is %(given)s.")
            % {"text": read.sex, "given": facts.get("sex")}
        ]
    born = facts.get("birth_date")
    if read.age_years is not None and isinstance(born, date):
        age = age_in_years(born, timezone.localdate())
        if abs(age - read.age_years) > 1:
            errors["birth_date"] = [
                _("The order text says %(text)s years old but the birth date gives %(age)s.")
                % {"text": read.age_years, "age": age}
            ]
    return facts, errors


def decision_input_validate(
    *,
    patient: Mapping[str, object],
    indication_code: str | None,
    red_flags: Iterable[str] = (),
    red_flags_absent: Iterable[str] = (),
    indication_text: str | None = None,
    today: date | None = None,
) -> DecisionInput:
    """The patient and the clinical part together, every problem of both reported at
    once. ``patient`` holds :func:`patient_validate`'s keyword arguments; what an
    order text states of the patient is added to them (:func:`patient_with_text`)."""
    errors: dict[str, list[str]] = {}
    checked_patient: PatientInput | None = None
    clinical: ClinicalInput | None = None
    try:
        clinical = clinical_validate(
            indication_code=indication_code,
            red_flags=red_flags,
            red_flags_absent=red_flags_absent,
            indication_text=indication_text,
        )
    except InputError as error:
        errors.update(error.errors)
    facts, conflicts = patient_with_text(patient, clinical.understanding if clinical else None)
    try:
        checked_patient = patient_validate(**facts, today=today)  # type: ignore[arg-type]
    except InputError as error:
        errors.update(error.errors)
    for name, messages in conflicts.items():
        errors.setdefault(name, []).extend(messages)
    if errors:
        raise InputError(errors)
    assert checked_patient is not None and clinical is not None
    return DecisionInput(checked_patient, clinical)
