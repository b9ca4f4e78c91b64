"""What each decision records for the pilot report, written where it happens: the
decision (ordering.decision), the options shown (the page) or the cards answered
(CDS Hooks), the signature (ordering.services.order_sign) and the EHR's feedback.
One function per moment, each a single call from its caller."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from ordering.models import (
    CdsModeValue,
    Consultation,
    DecisionMeasure,
    Order,
    PrescriberAnswer,
    RatingClass,
)
from ordering.pilot.modes import cds_mode_at, prescriber_service
from ordering.ranking import not_appropriate
from ordering.record import ConsultationRecord


def rating_class(rating: dict[str, Any] | None) -> RatingClass:
    """The report's three classes: an exam with no rule is "no guideline"; "not
    indicated" is the one rule for "not worth a slot" (ordering.ranking.not_appropriate)."""
    if rating is None or rating.get("score") is None:
        return RatingClass.NO_GUIDELINE
    if not_appropriate(str(rating["category"]), int(rating["score"])):
        return RatingClass.NOT_INDICATED
    return RatingClass.INDICATED


def _situation_class(record: ConsultationRecord) -> RatingClass:
    """Before any exam is chosen (the page): what the decision said of the situation."""
    if record.consultation.outputs.get("status") == "no_guideline" or not record.ratings:
        return RatingClass.NO_GUIDELINE
    if record.no_imaging_indicated:
        return RatingClass.NOT_INDICATED
    return RatingClass.INDICATED


def measure_decision(
    *,
    consultation: Consultation,
    channel: str,
    started_at: datetime,
    practitioner: Any = None,
    requested_procedure_code: str = "",
) -> DecisionMeasure:
    """The row of a new decision: the mode in force for the prescriber's service when
    the indication arrived (cds_mode_at, the one rule), the situation or requested
    exam's rating class. ``practitioner`` is who prescribes when the caller is an EHR
    account (CDS Hooks: the account mapped from the hook's userId)."""
    who = practitioner or consultation.prescriber
    service = prescriber_service(who)
    record = ConsultationRecord(consultation)
    rating = (
        rating_class(record.rating(requested_procedure_code))
        if requested_procedure_code
        else _situation_class(record)
    )
    return DecisionMeasure.objects.create(
        consultation=consultation,
        channel=channel,
        prescriber=who,
        mode=cds_mode_at(service=service, when=started_at),
        service=service,
        indication_code=consultation.indication_code,
        decided_at=started_at,
        requested_procedure_code=requested_procedure_code,
        procedure_code=requested_procedure_code,
        rating=rating,
    )


def decision_mode(consultation: Consultation) -> CdsModeValue:
    """The mode the decision was made in: a decision made silent stays silent when it
    is opened again after the site went active. A decision from before the pilot
    existed has no row and was shown."""
    mode = (
        DecisionMeasure.objects.filter(consultation=consultation)
        .values_list("mode", flat=True)
        .first()
    )
    return CdsModeValue(mode) if mode else CdsModeValue.ACTIVE


def ratings_shown(consultation: Consultation) -> bool:
    return decision_mode(consultation) == CdsModeValue.ACTIVE


def measure_options_shown(*, consultation: Consultation, card_shown: bool = False) -> None:
    """The first time the options (page) or cards (CDS Hooks) left the server; later
    views of the same page change nothing."""
    DecisionMeasure.objects.filter(consultation=consultation, options_shown_at__isnull=True).update(
        options_shown_at=timezone.now(), card_shown=card_shown
    )


def measure_card(*, consultation: Consultation, shown: bool, interruptive: bool) -> None:
    """CDS Hooks: the card answered for this decision, timed when the answer leaves."""
    DecisionMeasure.objects.filter(consultation=consultation).update(
        options_shown_at=timezone.now(), card_shown=shown, card_interruptive=interruptive
    )


def measure_signed(*, order: Order) -> None:
    """At the signature: the exam signed, its rating class, the answer "accepted" (the
    page only signs an exam the decision offers)."""
    record = ConsultationRecord(order.consultation)
    code = order.procedure.code
    DecisionMeasure.objects.filter(consultation_id=order.consultation_id).update(
        signed_at=order.signed_at,
        procedure_code=code,
        rating=rating_class(record.rating(code)),
        answer=PrescriberAnswer.ACCEPTED,
        answered_at=order.signed_at,
    )


def measure_feedback(
    *,
    consultation_id: Any,
    ordered_code: str,
    outcome: str,
    accepted_code: str,
    override_reason: str,
    at: datetime,
) -> None:
    """The EHR's feedback on a card: a suggestion of another exam accepted is a change
    of exam; an override keeps its reason (the coding's display, else its code)."""
    if outcome == "overridden":
        answer = PrescriberAnswer.OVERRIDDEN
    elif accepted_code and accepted_code != ordered_code:
        answer = PrescriberAnswer.CHANGED
    else:
        answer = PrescriberAnswer.ACCEPTED
    DecisionMeasure.objects.filter(consultation_id=consultation_id).update(
        answer=answer,
        override_reason=override_reason[:300] if answer == PrescriberAnswer.OVERRIDDEN else "",
        answered_at=at,
        **({"procedure_code": accepted_code} if answer == PrescriberAnswer.CHANGED else {}),
    )
