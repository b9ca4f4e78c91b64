"""The whole decision, stage after stage: engine → prior exams → availability →
ranking → consultation record. The prescriber page, the REST API and CDS Hooks
all call :func:`decision_make`; re-ranking with other filters calls
:func:`consultation_options` on the stored consultation. Neither re-implements
any stage."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from guidelines.engine import Decision, Rating, evaluate, published_rule_set_compiled
from guidelines.models import Priority, Procedure
from imaging_cds.audit import audit_record
from ordering.contract import ClinicalInput, PatientInput, age_in_years
from ordering.models import Consultation, PilotChannel
from ordering.pilot.measures import measure_decision
from ordering.priors import PriorLookup, priors_audit, priors_lookup
from ordering.ranking import (
    RankedOption,
    Ranking,
    SlotChoice,
    rank_options,
)
from ordering.record import (
    ConsultationRecord,
    patient_context,
    rated_procedure,
    rating_offerable,
)
from ordering.weights import weights_published
from scheduling.availability import (
    AvailabilityResult,
    PatientLocation,
    ProcedureNeed,
    SlotOption,
    available_options,
)
from scheduling.geo import commune_lookup
from scheduling.no_slot import NoSlotReason

logger = logging.getLogger(__name__)

# How many ranked options a consultation keeps in its record (the page may show more).
RECORDED_OPTIONS = 20


@dataclass(frozen=True)
class OptionFilters:
    max_distance_km: float = 60.0
    public_only: bool = False
    not_before: date | None = None
    centre_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "max_distance_km": self.max_distance_km,
            "public_only": self.public_only,
            "not_before": self.not_before.isoformat() if self.not_before else None,
            "centre_id": self.centre_id,
        }


EMERGENCY_DEPARTMENT = "emergency_department"
URGENT = "urgent"


@dataclass(frozen=True)
class Referral:
    """Where to send the patient when the decision cannot be booked here: an urgent
    exam with no slot offered for any exam worth one."""

    kind: str
    procedure_code: str  # the urgent exam nothing could be booked for

    @property
    def message(self) -> str:
        return _(
            "Urgent exam and no slot can be booked for it: send the patient to the "
            "emergency department."
        )

    def as_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "procedure_code": self.procedure_code,
            "message": str(self.message),
        }


@dataclass(frozen=True)
class Options:
    availability: AvailabilityResult | None  # None: nothing was worth a slot search
    ranking: Ranking
    # By (procedure code, first slot id): one start slot takes a longer run for a
    # longer exam, so the same slot may be two different options.
    slots: dict[tuple[str, int], SlotOption] = field(default_factory=dict)
    # Set when the patient must go to the emergency department (see `referral_needed`).
    referral: Referral | None = None

    def slot_for(self, option: RankedOption) -> SlotOption | None:
        """The free slot (and run) behind a ranked option; None for an exam with no slot."""
        if option.slot is None:
            return None
        return self.slots.get((option.rated.procedure_code, option.slot.slot_id))

    def no_slot(self, procedure_code: str) -> NoSlotReason | None:
        """Why the search found no slot for this exam (scheduling.no_slot), if it did not."""
        if self.availability is None:
            return None
        return self.availability.no_slot.get(procedure_code)


def _urgent(rating: dict[str, Any]) -> bool:
    return rating.get("priority") == URGENT


def referral_needed(record: ConsultationRecord, ranking: Ranking) -> Referral | None:
    """The one rule for "send to the emergency department", read by the page, the REST
    API and CDS Hooks: the best exam worth a slot is urgent (its rule says so, a red flag
    having chosen that rule) and no slot is offered for any exam worth one, whether
    nothing is free within the horizon or under these filters, or no machine performs
    it. When no exam is worth a slot at all, the answer is "no imaging indicated",
    never a referral."""
    bookable = record.bookable()
    if not bookable:
        return None
    best = bookable[0]
    urgent = best if _urgent(best) else None
    if urgent is None:
        # A red flag may make an exam urgent that is not the best rated one.
        urgent = next(
            (
                r
                for r in bookable
                if _urgent(r)
                and any(str(c).startswith("red_flags_any") for c in r["matched_conditions"])
            ),
            None,
        )
    if urgent is None:
        return None
    if any(option.slot is not None and not option.blocked for option in ranking.options):
        return None
    return Referral(EMERGENCY_DEPARTMENT, str(urgent["procedure_code"]))


@dataclass(frozen=True)
class DecisionOutcome:
    consultation: Consultation
    decision: Decision
    priors: PriorLookup
    options: Options


def rating_record(rating: Rating) -> dict[str, Any]:
    procedure = rating.procedure
    redundancy = rating.redundancy
    return {
        "procedure_code": procedure.code,
        "label_fr": procedure.label_fr,
        "label_en": procedure.label_en,
        "modality": procedure.modality,
        "body_region": procedure.body_region,
        "contrast": procedure.contrast,
        "dose_class": procedure.dose_class,
        "category": rating.category,
        "rule_category": rating.rule_category,
        "score": rating.score,
        "evidence": rating.evidence,
        "intention": rating.intention,
        "priority": rating.priority,
        "repeat_interval_days": rating.repeat_interval_days,
        "rationale_fr": rating.rationale_fr,
        "rationale_en": rating.rationale_en,
        "source": {
            "document": rating.source.document,
            "section": rating.source.section,
            "year": rating.source.year,
            "url": rating.source.url,
        },
        "matched_conditions": list(rating.matched_conditions),
        "contraindications": [vars(f) for f in rating.contraindications],
        "warnings": [vars(f) for f in rating.warnings],
        "redundancy": None
        if redundancy is None
        else {
            "days_ago": redundancy.days_ago,
            "interval_days": redundancy.interval_days,
            "performed_on": redundancy.prior.performed_on.isoformat(),
            "description": redundancy.prior.description,
            "institution": redundancy.prior.institution,
            "message_fr": redundancy.message_fr,
            "message_en": redundancy.message_en,
        },
    }


def _priors_record(priors: PriorLookup) -> dict[str, Any]:
    dose = priors.dose
    return {
        "status": str(priors.status),
        "reason": priors.reason,
        "capped": priors.capped,
        "from_cache": priors.from_cache,
        "studies": [
            {
                "date": s.record.study_date.isoformat() if s.record.study_date else None,
                "modality": s.modality,
                "description": s.record.description,
                "institution": s.record.institution,
                "procedure_code": s.fact.procedure_code if s.fact else None,
                "dose_class": s.dose_class,
            }
            for s in priors.studies
        ],
        "dose": None if dose is None else {"range": dose.range_text(), "basis": dose.basis()},
    }


# How soon a slot may start, by the rule's priority: a patient needs time to get there
# (an hour for an urgent exam, two otherwise), and an exam that can wait weeks (a
# screening mammogram, say) is not offered today at all, where a slot minutes away
# would otherwise come first. Booking a slot the prescriber picked is never refused
# on this: it only orders what the search offers.
SLOT_LEAD: dict[str, timedelta] = {
    Priority.URGENT: timedelta(hours=1),
    Priority.WITHIN_WEEK: timedelta(hours=2),
}
SLOT_LEAD_DEFAULT = timedelta(hours=2)


def exam_not_before(priority: str | None, now: datetime) -> datetime:
    """The earliest start the search offers for an exam of this priority."""
    if priority == Priority.WITHIN_WEEKS:
        tomorrow = timezone.localtime(now).date() + timedelta(days=1)
        return datetime.combine(tomorrow, time.min, tzinfo=ZoneInfo(settings.TIME_ZONE))
    return now + SLOT_LEAD.get(priority or "", SLOT_LEAD_DEFAULT)


def procedure_need(procedure: Procedure, *, not_before: datetime | None = None) -> ProcedureNeed:
    """What scheduling must know of a catalogue exam to find or book a slot for it."""
    return ProcedureNeed(
        code=procedure.code,
        modality=procedure.modality,
        needs_contrast=procedure.contrast != "none",
        duration_minutes=procedure.duration_minutes,
        not_before=not_before,
    )


def _needs(record: ConsultationRecord, now: datetime) -> list[ProcedureNeed]:
    """The bookable exams, each searched from its own earliest start (exam_not_before)."""
    bookable = {r["procedure_code"]: r for r in record.bookable()}
    procedures = Procedure.objects.in_bulk(list(bookable), field_name="code")
    return [
        procedure_need(
            procedures[code],
            not_before=exam_not_before(str(rating.get("priority") or "") or None, now),
        )
        for code, rating in bookable.items()
        if code in procedures
    ]


def consultation_options(
    consultation: Consultation, filters: OptionFilters, *, now: datetime | None = None
) -> Options:
    """Free slots and the ranking for a recorded decision, under these filters."""
    record = ConsultationRecord(consultation)
    weights = weights_published()
    rated = [rated_procedure(r) for r in record.ratings]
    pregnant = record.pregnant
    now = now or timezone.now()
    needs = _needs(record, now)
    if record.no_imaging_indicated or not needs:
        ranking = rank_options(ratings=rated, slots=[], weights=weights, pregnant=pregnant)
        return Options(None, ranking, referral=referral_needed(record, ranking))
    commune = commune_lookup(postcode=record.patient["postcode"])
    location = PatientLocation(
        latitude=commune.latitude if commune else 0.0,
        longitude=commune.longitude if commune else 0.0,
        label=commune.name if commune else "",
    )
    not_before = None
    if filters.not_before:
        not_before = datetime.combine(
            filters.not_before, time.min, tzinfo=ZoneInfo(settings.TIME_ZONE)
        )
    constraints = record.constraints(
        # No postcode: no distance to sort by, so every centre is in range.
        max_distance_km=filters.max_distance_km if commune else 100_000.0,
        kinds=frozenset({"public"}) if filters.public_only else frozenset(),
        not_before=not_before,
    )
    availability = available_options(needs, location, constraints, now=now)
    slots = [
        option
        for option in availability.options
        if filters.centre_id is None or option.centre_id == filters.centre_id
    ]
    choices = [
        SlotChoice(
            slot_id=o.slot_id,
            procedure_code=o.procedure_code,
            centre_id=o.centre_id,
            start=o.start,
            wait_days=float(o.wait_days),
            distance_km=o.distance_km if commune else None,
            extra_fees=o.sector != "sector_1",
            fits_patient=not o.unmet_preferences,
        )
        for o in slots
    ]
    ranking = rank_options(ratings=rated, slots=choices, weights=weights, pregnant=pregnant)
    return Options(
        availability,
        ranking,
        {(o.procedure_code, o.slot_id): o for o in slots},
        referral=referral_needed(record, ranking),
    )


@sensitive_variables("patient")
def decision_make(
    *,
    prescriber: Any,
    patient: PatientInput,
    clinical: ClinicalInput,
    filters: OptionFilters,
    request: Any = None,
    force_prior_refresh: bool = False,
    channel: str = PilotChannel.API,
    practitioner: Any = None,
    requested_procedure_code: str = "",
) -> DecisionOutcome:
    """Rate, look up priors, find slots, rank, record. ``patient`` and ``clinical``
    come from ordering.contract: every entry point has checked them the same way.
    ``channel``, ``practitioner`` and ``requested_procedure_code`` are what the pilot
    report records of the decision (ordering.pilot.measures)."""
    # The pilot's clock starts when the indication reaches the decision.
    started_at = timezone.now()
    today = timezone.localdate()
    rules = published_rule_set_compiled()
    priors = priors_lookup(
        patient_id=patient.identifier,
        issuer=patient.issuer,
        today=today,
        force_refresh=force_prior_refresh,
    )
    indication_code = clinical.indication_code
    inputs = {
        "indication_code": indication_code,
        "red_flags": sorted(clinical.red_flags),
        "red_flags_absent": sorted(clinical.red_flags_absent),
        "patient": {
            # No identifier, no name, no birth date: age is enough for every rule.
            "age_years": age_in_years(patient.birth_date, today),
            "sex": patient.sex,
            "pregnancy": patient.pregnancy,
            "postcode": patient.postcode,
            "weight_kg": patient.weight_kg,
            "egfr": patient.egfr,
            "egfr_date": patient.egfr_date.isoformat() if patient.egfr_date else None,
            "mri_unsafe_implant": patient.mri_unsafe_implant,
            "contrast_allergy": patient.contrast_allergy,
            "claustrophobia": patient.claustrophobia,
            "reduced_mobility": patient.reduced_mobility,
        },
        "filters": filters.as_dict(),
    }
    if clinical.understanding is not None:
        inputs["understanding"] = clinical.understanding.as_record()
    decision = evaluate(indication_code, patient_context(inputs, priors.facts, today), rules)
    ratings = [rating_record(r) for r in decision.ratings]
    no_imaging = decision.guideline_applies and not any(rating_offerable(r) for r in ratings)
    outputs: dict[str, Any] = {
        "status": decision.status,
        "reason_fr": decision.reason_fr,
        "reason_en": decision.reason_en,
        "no_imaging_indicated": no_imaging,
        "ratings": ratings,
        "priors": _priors_record(priors),
    }
    consultation = Consultation(
        prescriber=prescriber,
        patient_ref=patient.reference,
        indication_code=indication_code,
        inputs=inputs,
        outputs=outputs,
        rule_set_version=decision.rule_set_version,
        prior_status=str(priors.status) + (f": {priors.reason}" if priors.reason else ""),
    )
    options = consultation_options(consultation, filters)
    availability = options.availability
    consultation.weights_version = options.ranking.weights_version
    consultation.availability_source = str(availability.source) if availability else ""
    consultation.availability_age_seconds = availability.age_seconds if availability else None
    consultation.outputs["options"] = [
        {
            "procedure_code": o.rated.procedure_code,
            "slot_id": o.slot.slot_id if o.slot else None,
            "slot_ids": list(slot.slot_ids) if (slot := options.slot_for(o)) else [],
            "total": o.total,
            "terms": o.terms,
        }
        for o in options.ranking.options[:RECORDED_OPTIONS]
    ]
    if options.referral is not None:
        # Kept as decided (the page may re-rank under other filters): part of the audit.
        consultation.outputs["referral"] = {
            "kind": options.referral.kind,
            "procedure_code": options.referral.procedure_code,
        }
    with transaction.atomic():
        consultation.save()
        measure_decision(
            consultation=consultation,
            channel=channel,
            started_at=started_at,
            practitioner=practitioner,
            requested_procedure_code=requested_procedure_code,
        )
        priors_audit(priors, patient_ref=patient.reference, user=prescriber, request=request)
        audit_record(
            action="consultation.create",
            request=request,
            user=prescriber,
            object_type="consultation",
            object_id=consultation.pk,
            patient_ref=consultation.patient_ref,
            detail={
                "prior_status": str(priors.status),
                "rule_set_version": decision.rule_set_version,
            },
        )
    return DecisionOutcome(consultation, decision, priors, options)
