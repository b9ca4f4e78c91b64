"""A demo pilot: eight weeks of decisions over the demo prescribers and the published
rule set, four silent then four active, so the pilot report has something to show.

Each decision is rated by the real engine on a made-up patient context; what the
prescriber then does is drawn from the rates below (our assumptions, not measured
figures). Only decisions and their measures are written: no patient, no order, no
booking. Everything it writes is marked (patient_ref "demo-pilot:…", the periods'
reason) and replaced by the next run."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from guidelines.context import PatientContext, Pregnancy, Sex
from guidelines.engine import CompiledRuleSet, evaluate, published_rule_set_compiled
from ordering.decision import rating_record
from ordering.models import (
    CdsMode,
    CdsModeValue,
    Consultation,
    DecisionMeasure,
    PilotChannel,
    PrescriberAnswer,
    PrescriberProfile,
    RatingClass,
)
from ordering.pilot.measures import rating_class
from ordering.pilot.modes import cds_mode_at
from ordering.record import rating_offerable

DEMO_REF = "demo-pilot:"
DEMO_REASON = "Demo pilot (manage.py demo_pilot)"
WEEKS = 8
# The demo's two prescribers (demo_load) and four more, for the pilot only: they
# cannot log in (no usable password).
DEMO_LOAD_SERVICES = {
    "dr.martin": "Maison de santé Rennes Nord",
    "dr.bernard": "Cabinet de Vitré",
}
PILOT_ONLY = (
    ("dr.lucas", "Julie", "Lucas", "Maison de santé Rennes Nord"),
    ("dr.moreau", "Karim", "Moreau", "Maison de santé Rennes Nord"),
    ("dr.garnier", "Sophie", "Garnier", "Urgences CHU Rennes"),
    ("dr.fontaine", "Marc", "Fontaine", "Urgences CHU Rennes"),
)
SERVICES = {**DEMO_LOAD_SERVICES, **{username: service for username, _, _, service in PILOT_ONLY}}
OVERRIDE_REASONS = (
    ("clinical-context", 0.45),
    ("specialist-request", 0.25),
    ("patient-preference", 0.15),
    ("prior-exam-insufficient", 0.10),
    ("other", 0.05),
)


@dataclass(frozen=True)
class Behaviour:
    """What prescribers do, per mode (assumptions for the demo)."""

    inappropriate_first_choice: float  # share of EHR orders for an exam not indicated
    changed_after_card: float  # of flagged EHR orders, once the card is seen
    overridden_after_card: float
    seconds_to_sign: float  # median, page: options shown → signature


BEHAVIOUR = {
    CdsModeValue.SILENT: Behaviour(0.25, 0.0, 0.0, 40.0),
    CdsModeValue.ACTIVE: Behaviour(0.18, 0.35, 0.55, 47.0),
}
ORDERS_PER_PRESCRIBER_DAY = (2, 7)
NO_GUIDELINE_SHARE = 0.10
HOOK_SHARE = 0.55


def _lognormal(rng: random.Random, median: float, sigma: float) -> timedelta:
    return timedelta(seconds=rng.lognormvariate(0.0, sigma) * median)


def _luhn_rpps(seed: int) -> str:
    body = f"1{seed:09d}"
    total = 0
    # The key makes the Luhn sum of all 11 digits a multiple of 10.
    for i, digit in enumerate(reversed(body)):
        d = int(digit) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


def _prescribers() -> list[Any]:
    users = get_user_model()
    found = list(users.objects.filter(username__in=DEMO_LOAD_SERVICES))
    if len(found) != len(DEMO_LOAD_SERVICES):
        raise LookupError("The demo prescribers are missing: run manage.py demo_load first.")
    for n, (username, first, last, _service) in enumerate(PILOT_ONLY, 1):
        user, created = users.objects.get_or_create(
            username=username, defaults={"first_name": first, "last_name": last}
        )
        if created:
            user.set_unusable_password()
            user.save()
        found.append(user)
        PrescriberProfile.objects.get_or_create(
            user=user,
            defaults={
                "rpps": _luhn_rpps(900 + n),
                "speciality": "Médecine générale",
                "address": "Adresse fictive",
                "postcode": "35000",
                "town": "Rennes",
                "phone": "02 99 00 00 00",
            },
        )
    for user in found:
        PrescriberProfile.objects.filter(user=user).update(service=SERVICES[user.username])
    return found


def _periods(today: date, editor: Any) -> date:
    """Four weeks silent, then active from the switch day (returned), both declared as
    an editor would."""
    CdsMode.objects.filter(reason=DEMO_REASON).delete()
    start = today - timedelta(weeks=WEEKS)
    switch = today - timedelta(weeks=WEEKS // 2)
    CdsMode.objects.create(
        mode=CdsModeValue.SILENT,
        starts_on=start,
        ends_on=switch - timedelta(days=1),
        reason=DEMO_REASON,
        changed_by=editor,
    )
    CdsMode.objects.create(
        mode=CdsModeValue.ACTIVE, starts_on=switch, reason=DEMO_REASON, changed_by=editor
    )
    return start


@dataclass
class Drawn:
    consultation: Consultation
    measure: DecisionMeasure


def _decision(
    rng: random.Random, rules: CompiledRuleSet, codes: list[str], day: date
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    sex: Sex = "F" if rng.random() < 0.5 else "M"
    pregnancy: Pregnancy = "no" if sex == "F" else "unknown"
    age = rng.randint(18, 88)
    patient = {"age_years": age, "sex": sex, "pregnancy": pregnancy, "postcode": "35000"}
    context = PatientContext(age_years=age, sex=sex, pregnancy=pregnancy, today=day)
    code = "" if rng.random() < NO_GUIDELINE_SHARE else rng.choice(codes)
    decision = evaluate(code, context, rules)
    # A situation of the pack with no rule for this patient (a child's, say) is drawn
    # again: prescribers order for the patients in front of them.
    for _ in range(5):
        if not code or decision.guideline_applies:
            break
        code = rng.choice(codes)
        decision = evaluate(code, context, rules)
    ratings = [rating_record(r) for r in decision.ratings]
    outputs = {
        "status": decision.status,
        "no_imaging_indicated": decision.guideline_applies
        and not any(rating_offerable(r) for r in ratings),
        "ratings": ratings,
    }
    inputs = {"indication_code": code, "red_flags": [], "patient": patient}
    return code, inputs, outputs


def _draw(
    rng: random.Random,
    *,
    n: int,
    who: Any,
    ehr: Any,
    mode: CdsModeValue,
    at: datetime,
    rules: CompiledRuleSet,
    codes: list[str],
) -> Drawn:
    code, inputs, outputs = _decision(rng, rules, codes, at.date())
    ratings = outputs["ratings"]
    offerable = [r for r in ratings if rating_offerable(r)]
    poor = [r for r in ratings if not rating_offerable(r)]
    behaviour = BEHAVIOUR[mode]
    shown = mode == CdsModeValue.ACTIVE
    hook = rng.random() < HOOK_SHARE
    measure = DecisionMeasure(
        channel=PilotChannel.CDS_HOOKS if hook else PilotChannel.PAGE,
        prescriber=who,
        mode=mode,
        service=SERVICES[who.username],
        indication_code=code,
        decided_at=at,
        card_shown=shown,
    )
    if hook:
        wrong = poor and rng.random() < behaviour.inappropriate_first_choice
        chosen = rng.choice(poor) if wrong else (offerable or ratings or [None])[0]
        requested = chosen["procedure_code"] if chosen else "ct-head"
        measure.requested_procedure_code = measure.procedure_code = requested
        measure.rating = rating_class(chosen)
        measure.options_shown_at = at + _lognormal(rng, 0.6, 0.5)
        flagged = measure.rating == RatingClass.NOT_INDICATED
        # Cards at signing stop the prescriber; at selection they sit beside the order.
        measure.card_interruptive = shown and flagged and rng.random() < 0.5
        _answer(rng, measure, behaviour, shown=shown, flagged=flagged, offerable=offerable)
    else:
        measure.rating = (
            RatingClass.NO_GUIDELINE
            if outputs["status"] == "no_guideline" or not ratings
            else RatingClass.NOT_INDICATED
            if outputs["no_imaging_indicated"]
            else RatingClass.INDICATED
        )
        shown_at = at + _lognormal(rng, 1.8, 0.45)
        measure.options_shown_at = shown_at
        # The page signs only what the decision offers: a "no imaging" answer is left.
        if offerable and rng.random() < 0.93:
            measure.procedure_code = offerable[0]["procedure_code"]
            measure.signed_at = shown_at + _lognormal(rng, behaviour.seconds_to_sign, 0.6)
            measure.answer = PrescriberAnswer.ACCEPTED
            measure.answered_at = measure.signed_at
    consultation = Consultation(
        prescriber=ehr if hook else who,
        patient_ref=f"{DEMO_REF}{n:08d}",
        indication_code=code,
        inputs=inputs,
        outputs=outputs,
        rule_set_version=rules.version,
    )
    return Drawn(consultation, measure)


def _answer(
    rng: random.Random,
    measure: DecisionMeasure,
    behaviour: Behaviour,
    *,
    shown: bool,
    flagged: bool,
    offerable: list[dict[str, Any]],
) -> None:
    """The EHR's feedback on a card shown: none in silent mode (no card)."""
    if not shown:
        return
    draw = rng.random()
    when = measure.decided_at + _lognormal(rng, 9.0, 0.7)
    if flagged and draw < behaviour.changed_after_card:
        if offerable:
            measure.answer = PrescriberAnswer.CHANGED
            measure.procedure_code = offerable[0]["procedure_code"]
        else:
            # No exam worth one for this situation: the order is withdrawn.
            measure.answer = PrescriberAnswer.ABANDONED
    elif flagged and draw < behaviour.changed_after_card + behaviour.overridden_after_card:
        measure.answer = PrescriberAnswer.OVERRIDDEN
        measure.override_reason = rng.choices(
            [r for r, _ in OVERRIDE_REASONS], [w for _, w in OVERRIDE_REASONS]
        )[0]
    elif not flagged and draw < 0.7:
        measure.answer = PrescriberAnswer.ACCEPTED
    else:
        return
    measure.answered_at = when


def demo_pilot_generate(*, seed: int = 18, today: date | None = None) -> dict[str, int]:
    """Replace the demo pilot: periods, then decisions on every weekday of eight weeks."""
    # A reproducible demo, not a secret: the stdlib generator is what is wanted.
    rng = random.Random(seed)  # noqa: S311
    today = today or timezone.localdate()
    users = get_user_model()
    editor = users.objects.filter(username="editeur").first()
    ehr = users.objects.filter(username="dpi-ehr").first()
    if editor is None or ehr is None:
        raise LookupError("The demo accounts are missing: run manage.py demo_load first.")
    rules = published_rule_set_compiled()
    codes = sorted(rules.entries)
    counts = {"silent": 0, "active": 0}
    with transaction.atomic():
        Consultation.objects.filter(patient_ref__startswith=DEMO_REF).delete()
        prescribers = _prescribers()
        day = _periods(today, editor)
        drawn: list[Drawn] = []
        while day < today:
            if day.weekday() < 5:
                for who in prescribers:
                    for _ in range(rng.randint(*ORDERS_PER_PRESCRIBER_DAY)):
                        at = timezone.make_aware(
                            datetime.combine(day, time(8)) + timedelta(minutes=rng.randint(0, 660))
                        )
                        mode = cds_mode_at(service=SERVICES[who.username], when=at)
                        item = _draw(
                            rng,
                            n=len(drawn),
                            who=who,
                            ehr=ehr,
                            mode=mode,
                            at=at,
                            rules=rules,
                            codes=codes,
                        )
                        drawn.append(item)
                        counts[mode.value] = counts.get(mode.value, 0) + 1
            day += timedelta(days=1)
        Consultation.objects.bulk_create([d.consultation for d in drawn], batch_size=500)
        for d in drawn:
            d.consultation.created_at = d.measure.decided_at
            d.measure.consultation = d.consultation
        # created_at is set on insert (auto_now_add): put each decision on its day.
        Consultation.objects.bulk_update(
            [d.consultation for d in drawn], ["created_at"], batch_size=500
        )
        DecisionMeasure.objects.bulk_create([d.measure for d in drawn], batch_size=500)
    return counts
