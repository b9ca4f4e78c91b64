"""From a CDS Hooks request to the decision's inputs: the draft ServiceRequests
(FHIR R4, validated with fhir.resources' R4B models, whose shapes are R4's for
these resources), the exam each asks for, its indication, and the patient context
from prefetch — or from the EHR's FHIR server within a time budget."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import quote

import requests
from django.conf import settings
from django.utils.translation import gettext as _
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.servicerequest import ServiceRequest
from pydantic import ValidationError as PydanticValidationError

from guidelines.codes import CCAM_SYSTEM
from guidelines.engine import NoPublishedRuleSet, published_rule_set_compiled
from guidelines.models import Procedure
from guidelines.resolve import resolve, words
from guidelines.selectors import procedures_by_ccam
from imaging_cds.outbound import Allowance, OutboundRefused, outbound_check

ICD10_SYSTEMS = frozenset(
    {
        "http://hl7.org/fhir/sid/icd-10",
        "http://hl7.org/fhir/sid/icd-10-cm",
        "http://hl7.org/fhir/sid/icd-10-fr",
        "urn:oid:2.16.840.1.113883.6.3",
    }
)
SNOMED_SYSTEM = "http://snomed.info/sct"
LOINC_SYSTEM = "http://loinc.org"
# LOINC codes used in prefetch, each checked against HL7 material: body weight (the
# FHIR bodyweight profile), eGFR (CKD-EPI 62238-1 and MDRD 33914-3, 77147-7), and
# pregnancy status (82810-3, answers LA15173-0 pregnant, LA26683-5 not pregnant).
LOINC_WEIGHT = "29463-7"
LOINC_EGFR = ("62238-1", "33914-3", "77147-7")
LOINC_PREGNANCY = "82810-3"
PREGNANT_ANSWERS = {"LA15173-0": "yes", "LA26683-5": "no", "LA4489-6": "unknown"}
# An order's exam coded in CCAM is found through the verified codes each exam carries
# (guidelines/data/codes/ccam.yaml, guidelines.selectors.procedures_by_ccam). No LOINC
# radiology code was verified: an order coded only in LOINC is matched by its text.
# The reason's words read for the indication: beyond this, an order is not a reason.
MAX_REASON_TEXT = 2000
# FHIR's id type. Ids made only of dots are refused too: "." and ".." are path
# segments, not resources.
FHIR_ID = re.compile(r"[A-Za-z0-9\-\.]{1,64}")

PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "weight": f"Observation?patient={{{{context.patientId}}}}&code={LOINC_SYSTEM}|{LOINC_WEIGHT}"
    "&_sort=-date&_count=1",
    "egfr": "Observation?patient={{context.patientId}}&code="
    + ",".join(f"{LOINC_SYSTEM}|{code}" for code in LOINC_EGFR)
    + "&_sort=-date&_count=1",
    "pregnancy": f"Observation?patient={{{{context.patientId}}}}&code={LOINC_SYSTEM}|"
    f"{LOINC_PREGNANCY}&_sort=-date&_count=1",
}


def procedure_system() -> str:
    return f"{settings.FHIR_EXTENSION_BASE}/CodeSystem/procedure"


def red_flag_system() -> str:
    """The system of the red-flag codings an EHR puts in a ServiceRequest's reasonCode
    (codes as GET /api/v1/indications lists them for the indication)."""
    return f"{settings.FHIR_EXTENSION_BASE}/CodeSystem/red-flag"


class HookRequestError(ValueError):
    """The request itself is unusable: answered 400."""


class PatientDataMissing(LookupError):
    """Neither prefetch nor the FHIR server gave the Patient: answered 412."""


@dataclass
class DraftOrder:
    resource: dict[str, Any]  # as the EHR sent it, echoed back in actions
    id: str
    procedure: Procedure | None
    indication_code: str  # a CIM-10 / ICD-10-CM / SNOMED CT code of the reason, or ""
    indication_text: str  # the reason's text, displays and the order's notes
    reason_given: bool
    exam_text: str
    red_flags: frozenset[str] = frozenset()
    # Why the exam could not be told from a code the order gave ("" when it could).
    exam_problem: str = ""


@dataclass
class UnreadableOrder:
    id: str
    problem: str


@dataclass
class HookPatient:
    identifier: str
    identifier_kind: str
    birth_date: date | None
    sex: str
    postcode: str
    pregnancy: str = "unknown"
    weight_kg: float | None = None
    egfr: float | None = None
    notes: list[str] = field(default_factory=list)


def draft_orders(
    context: dict[str, Any], *, only: list[str] | None
) -> tuple[list[DraftOrder], list[UnreadableOrder]]:
    bundle = context.get("draftOrders")
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise HookRequestError("context.draftOrders must be a FHIR Bundle")
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise HookRequestError("context.draftOrders.entry must be a list")
    # A Bundle without `type` (as in the PAMA guide's example) is accepted: each entry's
    # resource is validated on its own.
    orders: list[DraftOrder] = []
    unreadable: list[UnreadableOrder] = []
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or resource.get("resourceType") != "ServiceRequest":
            continue  # medications, diets…: not ours to rate
        rid = str(resource.get("id") or "")
        if only is not None and f"ServiceRequest/{rid}" not in only:
            continue
        try:
            request = ServiceRequest.model_validate(resource)
        except (PydanticValidationError, ValueError) as exc:
            unreadable.append(UnreadableOrder(rid, _first_error(exc)))
            continue
        orders.append(_draft_order(resource, request))
    return orders, unreadable


def _first_error(exc: Exception) -> str:
    if isinstance(exc, PydanticValidationError) and exc.errors():
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error.get("loc", ()))
        return f"{where}: {error.get('msg', 'invalid')}"[:200]
    return str(exc)[:200]


def _draft_order(resource: dict[str, Any], request: ServiceRequest) -> DraftOrder:
    procedure, exam_text, exam_problem = _procedure_of(request)
    indication, text, given = _indication_of(request)
    flags = red_flag_system()
    return DraftOrder(
        resource=resource,
        id=str(request.id or ""),
        procedure=procedure,
        indication_code=indication,
        indication_text=text,
        reason_given=given,
        exam_text=exam_text,
        exam_problem=exam_problem,
        red_flags=frozenset(
            str(coding.code)
            for reason in request.reasonCode or []
            for coding in reason.coding or []
            if coding.system == flags and coding.code
        ),
    )


def _procedure_of(request: ServiceRequest) -> tuple[Procedure | None, str, str]:
    """(the exam, the words naming it, why a code the order gave could not settle it).
    Our own code first, then a CCAM code, then the words of code.text and displays."""
    code = request.code
    if code is None:
        return None, "", ""
    texts = [code.text] if code.text else []
    ours = procedure_system()
    ccam: list[tuple[str, list[Procedure]]] = []
    for coding in code.coding or []:
        if coding.system == ours and coding.code:
            found = Procedure.objects.filter(code=coding.code).first()
            if found:
                return found, coding.display or found.label_en, ""
        if coding.system == CCAM_SYSTEM and coding.code:
            ccam.append((str(coding.code), procedures_by_ccam(code=str(coding.code))))
        if coding.display:
            texts.append(coding.display)
    problem = ""
    for ccam_code, candidates in ccam:
        if len(candidates) == 1:
            return candidates[0], texts[0] if texts else candidates[0].label_en, ""
        if candidates:
            # One act for several of our exams (any joint ultrasound): the order's words
            # decide among them, else the EHR is told to say which.
            for text in texts:
                found = procedure_by_text(text, among=candidates)
                if found:
                    return found, text, ""
            problem = problem or _(
                "The CCAM code %(code)s stands for several exams (%(exams)s): send the "
                "exam's name or our procedure code too."
            ) % {"code": ccam_code, "exams": ", ".join(p.code for p in candidates)}
    for text in texts:
        found = procedure_by_text(text)
        if found:
            return found, text, ""
    if ccam and not problem:
        problem = _(
            "No exam of the catalogue carries the CCAM code %(code)s: only verified codes "
            "are matched."
        ) % {"code": ", ".join(c for c, _candidates in ccam)}
    return None, texts[0] if texts else "", problem


def procedure_by_text(text: str, among: list[Procedure] | None = None) -> Procedure | None:
    """The catalogue procedure (or one of `among`) whose French or English label has
    the same words as this text, in any order ("Lumbar spine CT" is "CT lumbar spine")."""
    wanted = frozenset(words(text))
    if not wanted:
        return None
    for procedure in Procedure.objects.all() if among is None else among:
        labels = (procedure.label_fr, procedure.label_en, procedure.code.replace("-", " "))
        if any(frozenset(words(label)) == wanted for label in labels):
            return procedure
    return None


def _indication_of(request: ServiceRequest) -> tuple[str, str, bool]:
    """(a standard code of the reason, the reason's words, whether a reason was given).
    The words are reasonCode's text and displays and the order's notes: the input
    contract reads them (guidelines.understanding) when no code settles it."""
    texts: list[str] = []
    codes: list[str] = []
    flags = red_flag_system()
    for reason in request.reasonCode or []:
        if reason.text:
            texts.append(str(reason.text))
        for coding in reason.coding or []:
            system, code = str(coding.system or ""), str(coding.code or "")
            if system == flags:
                continue  # a red flag of the indication, not the indication
            if code and (system in ICD10_SYSTEMS or system == SNOMED_SYSTEM):
                codes.append(code)
            if coding.display:
                texts.append(str(coding.display))
    notes = [str(n.text) for n in request.note or [] if n.text]
    given = bool(codes or texts or notes)
    # The first code that names a situation of ours, else the first one.
    code = next((c for c in codes if _names_a_situation(c)), codes[0] if codes else "")
    return code, " ; ".join([*texts, *notes])[:MAX_REASON_TEXT], given


def _names_a_situation(code: str) -> bool:
    try:
        rules = published_rule_set_compiled()
    except NoPublishedRuleSet:
        return False
    return any(c.score >= 0.8 for c in resolve(code, rules, limit=1))


# --- The patient ---------------------------------------------------------------------


def fhir_id(value: Any) -> str:
    """The value as a FHIR id, or HookRequestError: it becomes a URL path segment."""
    text = str(value or "")
    if not FHIR_ID.fullmatch(text) or not text.strip("."):
        raise HookRequestError("context.patientId is not a valid FHIR id")
    return text


def hook_patient(
    prefetch: dict[str, Any], context: dict[str, Any], fhir: FhirAccess | FhirRefused | None
) -> HookPatient:
    patient_json = prefetch.get("patient")
    patient_id = fhir_id(context["patientId"]) if context.get("patientId") else ""
    segment = quote(patient_id, safe="")
    if not isinstance(patient_json, dict) and isinstance(fhir, FhirAccess) and patient_id:
        patient_json = fhir.read(f"Patient/{segment}")
    if not isinstance(patient_json, dict):
        why = f": {fhir.reason}" if isinstance(fhir, FhirRefused) else ""
        raise PatientDataMissing(f"the Patient is neither prefetched nor readable{why}")
    try:
        patient = Patient.model_validate(patient_json)
    except (PydanticValidationError, ValueError) as exc:
        raise HookRequestError(
            f"prefetch.patient is not a valid Patient: {_first_error(exc)}"
        ) from None
    identifier, kind = _identifier(patient)
    gender = {"female": "F", "male": "M"}.get(str(patient.gender or ""), "U")
    postcode = next((a.postalCode for a in patient.address or [] if a.postalCode), "")
    out = HookPatient(
        identifier=identifier,
        identifier_kind=kind,
        birth_date=patient.birthDate,
        sex=gender,
        postcode=str(postcode or ""),
    )
    observations: dict[str, list[dict[str, Any]]] = {}
    for key in ("weight", "egfr", "pregnancy"):
        bundle = prefetch.get(key)
        if not isinstance(bundle, dict) and isinstance(fhir, FhirAccess) and patient_id:
            query = PREFETCH[key].replace("{{context.patientId}}", segment)
            bundle = fhir.read(query)
        observations[key] = _resources(bundle)
    out.weight_kg = _quantity(observations["weight"], LOINC_WEIGHT, {"kg": 1.0, "g": 0.001})
    out.egfr = _quantity(observations["egfr"], LOINC_EGFR, None)
    out.pregnancy = _pregnancy(observations["pregnancy"])
    return out


def _identifier(patient: Patient) -> tuple[str, str]:
    identifiers = [i for i in patient.identifier or [] if i.value and i.use != "old"]
    for ident in identifiers:
        if ident.system in settings.CDS_INS_SYSTEMS:
            return str(ident.value), "ins"
    if identifiers:
        return str(identifiers[0].value), "local"
    return "", "local"


def _resources(bundle: Any) -> list[dict[str, Any]]:
    if isinstance(bundle, dict) and bundle.get("resourceType") == "Observation":
        return [bundle]
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        return []
    return [
        e["resource"]
        for e in bundle.get("entry") or []
        if isinstance(e, dict)
        and isinstance(e.get("resource"), dict)
        and e["resource"].get("resourceType") == "Observation"
    ]


def _valid_observations(resources: list[dict[str, Any]], codes: tuple[str, ...]) -> list[Any]:
    out = []
    for resource in resources:
        try:
            observation = Observation.model_validate(resource)
        except (PydanticValidationError, ValueError):
            continue
        if observation.status in ("entered-in-error", "cancelled"):
            continue
        coded = {str(c.code) for c in observation.code.coding or [] if c.system == LOINC_SYSTEM}
        if coded & set(codes):
            out.append(observation)
    # Latest first: prefetch asks _sort=-date, but a hand-made bundle may not be sorted.
    out.sort(key=lambda o: str(o.effectiveDateTime or ""), reverse=True)
    return out


def _quantity(
    resources: list[dict[str, Any]], codes: str | tuple[str, ...], units: dict[str, float] | None
) -> float | None:
    wanted = (codes,) if isinstance(codes, str) else codes
    for observation in _valid_observations(resources, wanted):
        quantity = observation.valueQuantity
        if quantity is None or quantity.value is None:
            continue
        if units is None:
            return float(quantity.value)
        factor = units.get(str(quantity.code or quantity.unit or ""))
        if factor is not None:
            return round(float(quantity.value) * factor, 1)
    return None


def _pregnancy(resources: list[dict[str, Any]]) -> str:
    for observation in _valid_observations(resources, (LOINC_PREGNANCY,)):
        concept = observation.valueCodeableConcept
        for coding in (concept.coding or []) if concept else []:
            answer = PREGNANT_ANSWERS.get(str(coding.code))
            if answer:
                return answer
    return "unknown"


# --- Reading from the EHR's FHIR server ----------------------------------------------------


class FhirAccess:
    """GETs on the EHR's FHIR server with its access token, all within one budget.
    A read that fails or runs out of time gives None: the caller decides."""

    def __init__(self, base: str, token: str | None, budget_seconds: float) -> None:
        self.base = base.rstrip("/")
        self.token = token
        self.deadline = time.monotonic() + budget_seconds
        self.session = requests.Session()

    def read(self, relative: str) -> dict[str, Any] | None:
        left = self.deadline - time.monotonic()
        if left <= 0.05:
            return None
        headers = {"Accept": "application/fhir+json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = self.session.get(
                f"{self.base}/{relative}", headers=headers, timeout=left, allow_redirects=False
            )
        except requests.RequestException:
            return None
        if response.status_code != 200:
            return None
        try:
            body = response.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) else None


@dataclass(frozen=True)
class FhirRefused:
    """The request named a FHIR server we may not read: why, for the 412's message."""

    reason: str


def fhir_access(
    request_body: dict[str, Any], allowed_servers: list[str]
) -> FhirAccess | FhirRefused | None:
    """Access to the request's ``fhirServer`` if it is one of the EHR client's allowed
    servers (imaging_cds.outbound); the access token is never sent anywhere else."""
    server = request_body.get("fhirServer")
    if not isinstance(server, str) or not server:
        return None
    bases = tuple(str(entry) for entry in allowed_servers if isinstance(entry, str))
    try:
        outbound_check(server, Allowance(bases=bases))
    except OutboundRefused as exc:
        return FhirRefused(f"fhirServer is not an allowed FHIR server for this client ({exc})")
    authorization = request_body.get("fhirAuthorization")
    token = authorization.get("access_token") if isinstance(authorization, dict) else None
    return FhirAccess(server, token, float(settings.CDS_FHIR_TIMEOUT_SECONDS))
