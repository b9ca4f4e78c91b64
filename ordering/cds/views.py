"""CDS Hooks 2.0 endpoints: discovery (open), the order-select and order-sign services
and their feedback (each call authenticated by the EHR's signed JWT). The services
are thin: they read the request (ordering.cds.hook_input), call the one decision
service (ordering.decision.decision_make) and shape cards (ordering.cds.cards)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.http import HttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.servicerequest import ServiceRequest
from pydantic import ValidationError as PydanticValidationError
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ordering.api.fhir import operation_outcome
from ordering.api.parsers import GuardedJSONParser
from ordering.api.permissions import IsApiClient
from ordering.api.throttling import CdsClientRateThrottle
from ordering.cds.auth import CdsHooksJwtAuthentication, VerifiedClient
from ordering.cds.cards import (
    CardPlan,
    md_escape,
    message_card,
    options_url,
    order_card,
    referral_card,
    smart_launch_url,
    system_action,
)
from ordering.cds.hook_input import (
    PREFETCH,
    DraftOrder,
    FhirAccess,
    FhirRefused,
    HookPatient,
    HookRequestError,
    PatientDataMissing,
    draft_orders,
    fhir_access,
    hook_patient,
)
from ordering.contract import (
    DecisionInput,
    InputError,
    decision_input_validate,
    postcode_notice,
    postcode_problem,
)
from ordering.decision import OptionFilters, decision_make
from ordering.models import (
    CdsCard,
    CdsModeValue,
    DecisionFeedback,
    EhrClient,
    EhrPractitioner,
    FeedbackOutcome,
    PilotChannel,
)
from ordering.pilot.measures import decision_mode, measure_card, measure_feedback
from ordering.pilot.modes import cds_mode_at, prescriber_service

SERVICES: dict[str, dict[str, str]] = {
    "imaging-order-select": {
        "hook": "order-select",
        "title": "Imaging appropriateness, prior exams and slots",
        "description": "Rates each selected imaging ServiceRequest against the published "
        "guidelines, looks for prior exams in the PACS and lists the first free slots.",
    },
    "imaging-order-sign": {
        "hook": "order-sign",
        "title": "Imaging appropriateness at signing",
        "description": "Rates every draft imaging ServiceRequest before signature and writes "
        "the rating, consultation id and rule-set version back on it.",
    },
}


def _error(code: str, message: str, http_status: int) -> Response:
    return Response({"error": {"code": code, "message": message}}, status=http_status)


def _precondition_failed(message: str) -> HttpResponse:
    """412 with a FHIR OperationOutcome saying which data could not be had. CDS Hooks
    2.0 names the status only; an OperationOutcome is what a FHIR-speaking EHR reads.
    Served as application/json like every other answer here: EHRs parse that."""
    return operation_outcome(
        status.HTTP_412_PRECONDITION_FAILED, "incomplete", message, content_type="application/json"
    )


@extend_schema(exclude=True)
class DiscoveryApi(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes: list[type] = []
    renderer_classes = [JSONRenderer]

    def get(self, request: Request) -> Response:
        services = [
            {
                "hook": spec["hook"],
                "id": sid,
                "title": spec["title"],
                "description": spec["description"],
                "prefetch": PREFETCH,
            }
            for sid, spec in SERVICES.items()
        ]
        return Response({"services": services})


class _CdsApi(APIView):
    authentication_classes = [CdsHooksJwtAuthentication]
    permission_classes = [IsApiClient]
    throttle_classes = [CdsClientRateThrottle]
    parser_classes = [GuardedJSONParser]
    renderer_classes = [JSONRenderer]


@extend_schema(exclude=True)
class FloorApi(_CdsApi):
    """The floor the hook's speed is measured against (bench/cds_order_select.py),
    served only with CDS_FLOOR_ENDPOINT: the same authentication (the JWT verified,
    its id written once: the one row), throttle and JSON parser as a hook, and the
    same body parsed and validated with fhir.resources; no decision."""

    def post(self, request: Request) -> Response:
        body = request.data
        context = body.get("context") if isinstance(body, dict) else None
        prefetch = body.get("prefetch") if isinstance(body, dict) else None
        if not isinstance(context, dict) or not isinstance(prefetch, dict):
            return _error("invalid", "context and prefetch must be objects.", 400)
        try:
            entries = (context.get("draftOrders") or {}).get("entry") or []
            for entry in entries:
                ServiceRequest.model_validate(entry["resource"])
            Patient.model_validate(prefetch["patient"])
        except (PydanticValidationError, ValueError, KeyError, TypeError, AttributeError):
            return _error("invalid", "not valid FHIR R4", 400)
        return Response({"cards": []})


@extend_schema(exclude=True)
class ServiceApi(_CdsApi):
    def post(self, request: Request, service_id: str) -> HttpResponse:
        spec = SERVICES.get(service_id)
        if spec is None:
            return _error("not_found", "No such CDS service.", status.HTTP_404_NOT_FOUND)
        body = request.data
        if not isinstance(body, dict) or body.get("hook") != spec["hook"]:
            return _error(
                "invalid",
                f"This service answers the {spec['hook']} hook.",
                status.HTTP_400_BAD_REQUEST,
            )
        hook_instance = body.get("hookInstance")
        if not isinstance(hook_instance, str) or not hook_instance.strip():
            return _error(
                "invalid",
                _("hookInstance is required: the identifier of this hook call."),
                status.HTTP_400_BAD_REQUEST,
            )
        context = body.get("context")
        prefetch = body.get("prefetch") or {}
        if not isinstance(context, dict) or not isinstance(prefetch, dict):
            return _error(
                "invalid", "context and prefetch must be objects.", status.HTTP_400_BAD_REQUEST
            )
        selections = context.get("selections")
        only = (
            [str(s) for s in selections]
            if spec["hook"] == "order-select" and isinstance(selections, list)
            else None
        )
        verified = request.auth
        assert isinstance(verified, VerifiedClient)
        fhir = fhir_access(body, list(verified.client.fhir_servers or []))
        try:
            orders, unreadable = draft_orders(context, only=only)
            if not orders and not unreadable:
                return Response({"cards": []})
            patient = hook_patient(prefetch, context, fhir)
        except HookRequestError as exc:
            return _error("invalid", str(exc), status.HTTP_400_BAD_REQUEST)
        except PatientDataMissing:
            # CDS Hooks: prefetch null means "the EHR has no such data", a missing key
            # "not prefetched"; either way the Patient is read from fhirServer if given.
            return _precondition_failed(_patient_missing_reason(prefetch, fhir))
        assert isinstance(request.auth, VerifiedClient)
        practitioner = _practitioner(verified.client, context)
        mode = cds_mode_at(
            service=prescriber_service(practitioner or verified.client.user), when=timezone.now()
        )
        if mode == CdsModeValue.OFF:
            # Off: nothing is decided, nothing recorded; the EHR goes on as without us.
            return Response({"cards": []})
        cards: list[dict[str, Any]] = []
        actions: list[dict[str, Any]] = []
        for problem in unreadable:
            cards.append(
                message_card(
                    _("An order could not be read"),
                    _("ServiceRequest %(id)s is not valid FHIR R4: %(problem)s")
                    % {"id": md_escape(problem.id) or "?", "problem": md_escape(problem.problem)},
                )
            )
        location_problem = postcode_problem(patient.postcode)
        location_notice = location_problem or postcode_notice(patient.postcode)
        for order in orders:
            if not order.reason_given:
                cards.append(
                    message_card(
                        _("Give the reason for the exam to have it rated"),
                        _(
                            "Add the clinical indication (ICD-10 or SNOMED CT code, or text) "
                            "to the order's reason, then select it again."
                        ),
                        indicator="info",
                    )
                )
                continue
            try:
                checked = _checked(patient, order, usable_postcode=not location_problem)
            except InputError as error:
                cards.append(
                    message_card(
                        _("This order cannot be rated: some facts sent cannot be used"),
                        "\n".join(f"- {md_escape(line)}" for line in error.lines()),
                    )
                )
                continue
            plan, action, referral = self._rate(
                request, service_id, body, order, checked, practitioner=practitioner
            )
            if referral is not None:
                cards.append(referral)
            cards.append(plan.card)
            actions.append(action)
        if location_notice:
            # The rating does not rest on where the patient lives: rated all the same,
            # with the reason the centres are not sorted by distance.
            cards.append(
                message_card(
                    _("The patient's postcode cannot be used: centres are not sorted by distance"),
                    location_notice,
                    indicator="info",
                )
            )
        if not _shown(mode):
            # Silent: every decision above is made and recorded in full; the EHR hears
            # nothing, not even the rating in a systemAction.
            return Response({"cards": []})
        answer: dict[str, Any] = {"cards": cards}
        if actions:
            answer["systemActions"] = actions
        return Response(answer)

    def _rate(
        self,
        request: Request,
        service_id: str,
        body: dict[str, Any],
        order: DraftOrder,
        checked: DecisionInput,
        *,
        practitioner: Any,
    ) -> tuple[CardPlan, dict[str, Any], dict[str, Any] | None]:
        verified = request.auth
        assert isinstance(verified, VerifiedClient)
        outcome = decision_make(
            prescriber=verified.client.user,
            patient=checked.patient,
            clinical=checked.clinical,
            filters=OptionFilters(),
            request=request,
            channel=PilotChannel.CDS_HOOKS,
            practitioner=practitioner,
            requested_procedure_code=order.procedure.code if order.procedure else "",
        )
        link = options_url(request, outcome.consultation.pk)
        smart = smart_launch_url(request, verified.client)
        plan, rating = order_card(
            outcome=outcome,
            order_resource=order.resource,
            procedure=order.procedure,
            exam_text=order.exam_text,
            options_url=link,
            exam_problem=order.exam_problem,
            smart_url=smart,
        )
        referral = referral_card(outcome, link, smart)
        shown = _shown(decision_mode(outcome.consultation))
        measure_card(
            consultation=outcome.consultation,
            shown=shown,
            interruptive=shown and _interrupts(service_id, plan.card),
        )
        if not shown:
            # No card leaves in silent mode: none is kept for feedback either.
            return plan, system_action(order.resource, rating, outcome), referral
        # Both cards are kept, so that an EHR's feedback on either (an overridden
        # referral above all) is recorded against the decision.
        for card, suggestions in ((plan.card, plan.suggestions), (referral, {})):
            if card is None:
                continue
            CdsCard.objects.create(
                id=card["uuid"],
                consultation=outcome.consultation,
                client=verified.client,
                service_id=service_id,
                hook_instance=str(body["hookInstance"])[:100],
                service_request_id=order.id[:100],
                ehr_user_id=str((body.get("context") or {}).get("userId") or "")[:200],
                procedure_code=order.procedure.code if order.procedure else "",
                suggestions=suggestions,
            )
        return plan, system_action(order.resource, rating, outcome), referral


def _shown(mode: CdsModeValue) -> bool:
    return mode == CdsModeValue.ACTIVE


# An EHR stops the signature for a warning or critical card on order-sign (the hook
# fires as the prescriber signs); on order-select cards sit beside the order.
INTERRUPTIVE_INDICATORS = frozenset({"warning", "critical"})


def _interrupts(service_id: str, card: dict[str, Any] | None) -> bool:
    return (
        card is not None
        and SERVICES[service_id]["hook"] == "order-sign"
        and card.get("indicator") in INTERRUPTIVE_INDICATORS
    )


def _practitioner(client: EhrClient, context: dict[str, Any]) -> Any:
    """The local account the hook's userId maps to for this client, if any: whose
    service the mode and the report follow."""
    user_id = str(context.get("userId") or "")[:200]
    if not user_id:
        return None
    mapping = (
        EhrPractitioner.objects.select_related("user")
        .filter(client=client, ehr_user_id=user_id)
        .first()
    )
    return mapping.user if mapping is not None else None


def _patient_missing_reason(prefetch: dict[str, Any], fhir: FhirAccess | FhirRefused | None) -> str:
    if isinstance(fhir, FhirRefused):
        return _(
            "The Patient was not prefetched and fhirServer is not one this EHR client "
            "registered (%(reason)s); the order cannot be rated without the patient's age "
            "and sex."
        ) % {"reason": fhir.reason}
    if fhir is not None:
        return _(
            "The Patient was not prefetched and the EHR's FHIR server (fhirServer) did not "
            "give it in time; the order cannot be rated without the patient's age and sex."
        )
    if "patient" in prefetch:
        return _(
            "prefetch.patient is null (no Patient) and the request has no fhirServer to "
            "read it from; the order cannot be rated without the patient's age and sex."
        )
    return _(
        "The Patient was not prefetched and the request has no fhirServer to read it "
        "from; the order cannot be rated without the patient's age and sex."
    )


def _checked(patient: HookPatient, order: DraftOrder, *, usable_postcode: bool) -> DecisionInput:
    """The hook's patient and order through the one input contract: the reason's code,
    or its words read by the understanding stage; a reason that names no situation
    with certainty is still answered ("no guideline applies")."""
    facts = {
        "identifier": patient.identifier,
        "identifier_kind": patient.identifier_kind,
        "birth_date": patient.birth_date,
        "sex": patient.sex,
        "postcode": patient.postcode if usable_postcode else "",
        "pregnancy": patient.pregnancy,
        "weight_kg": patient.weight_kg,
        "egfr": patient.egfr,
    }
    return decision_input_validate(
        patient=facts,
        indication_code=order.indication_code,
        indication_text=order.indication_text,
        red_flags=order.red_flags,
    )


@extend_schema(exclude=True)
class FeedbackApi(_CdsApi):
    def post(self, request: Request, service_id: str) -> Response:
        if service_id not in SERVICES:
            return _error("not_found", "No such CDS service.", status.HTTP_404_NOT_FOUND)
        verified = request.auth
        assert isinstance(verified, VerifiedClient)
        items = request.data.get("feedback") if isinstance(request.data, dict) else None
        if not isinstance(items, list) or not items:
            return _error(
                "invalid", "feedback must be a non-empty list.", status.HTTP_400_BAD_REQUEST
            )
        records: list[DecisionFeedback] = []
        for item in items:
            record = _feedback_record(item, verified, service_id, request.user)
            if isinstance(record, Response):
                return record
            records.append(record)
        with transaction.atomic():
            for record in records:
                record.save()
                assert record.card is not None
                measure_feedback(
                    consultation_id=record.consultation_id,
                    ordered_code=record.card.procedure_code,
                    outcome=record.outcome,
                    accepted_code=record.accepted_procedure_code,
                    # The coded reason only: a free comment may name the patient.
                    override_reason=record.override_reason_code or record.override_reason_display,
                    at=record.outcome_at,
                )
        return Response(status=status.HTTP_200_OK)


def _feedback_record(
    item: Any, verified: VerifiedClient, service_id: str, user: Any
) -> DecisionFeedback | Response:
    if not isinstance(item, dict):
        return _error(
            "invalid", "each feedback item must be an object.", status.HTTP_400_BAD_REQUEST
        )
    card_id = _uuid_or_none(item.get("card"))
    card = (
        CdsCard.objects.filter(pk=card_id, client=verified.client, service_id=service_id).first()
        if card_id
        else None
    )
    if card is None:  # someone else's card or none: the same answer
        return _error("not_found", "Unknown card.", status.HTTP_404_NOT_FOUND)
    outcome = item.get("outcome")
    if outcome not in FeedbackOutcome.values:
        return _error(
            "invalid", "outcome must be accepted or overridden.", status.HTTP_400_BAD_REQUEST
        )
    when = _outcome_timestamp(item.get("outcomeTimestamp"))
    if when is None:
        return _error(
            "invalid",
            _("outcomeTimestamp is required: the ISO 8601 time, in UTC, of the user's action."),
            status.HTTP_400_BAD_REQUEST,
        )
    accepted = _accepted_procedure(item, card, outcome)
    if isinstance(accepted, Response):
        return accepted
    reason = _override_reason(item, outcome)
    if isinstance(reason, Response):
        return reason
    given = reason.get("reason")
    coding: dict[str, Any] = given if isinstance(given, dict) else {}
    return DecisionFeedback(
        consultation_id=card.consultation_id,
        card=card,
        outcome=outcome,
        accepted_procedure_code=accepted,
        override_reason_code=str(coding.get("code") or "")[:80],
        override_reason_display=str(coding.get("display") or "")[:300],
        override_comment=str(reason.get("userComment") or "")[:4000],
        outcome_at=when,
        recorded_by=user,
    )


def _outcome_timestamp(value: Any) -> datetime | None:
    """CDS Hooks: outcomeTimestamp is REQUIRED, an ISO timestamp in UTC."""
    if not isinstance(value, str):
        return None
    try:
        when = parse_datetime(value.strip())
    except ValueError:  # well-formed but impossible, e.g. month 13
        return None
    if when is None:
        return None
    return timezone.make_aware(when, UTC) if timezone.is_naive(when) else when


def _accepted_procedure(item: dict[str, Any], card: CdsCard, outcome: str) -> str | Response:
    """acceptedSuggestions is REQUIRED for accepted outcomes: each names a suggestion
    of this card by its uuid. The procedure the accepted suggestion proposed, or ""."""
    suggestions = item.get("acceptedSuggestions")
    if outcome != FeedbackOutcome.ACCEPTED:
        if suggestions is not None:
            return _error(
                "invalid",
                _("acceptedSuggestions is only for accepted outcomes."),
                status.HTTP_400_BAD_REQUEST,
            )
        return ""
    if not isinstance(suggestions, list) or not suggestions:
        return _error(
            "invalid",
            _("acceptedSuggestions is required when the outcome is accepted."),
            status.HTTP_400_BAD_REQUEST,
        )
    accepted = ""
    for suggestion in suggestions:
        sid = suggestion.get("id") if isinstance(suggestion, dict) else None
        if not isinstance(sid, str) or sid not in card.suggestions:
            return _error(
                "invalid",
                _("Each accepted suggestion must name a suggestion of this card by its uuid."),
                status.HTTP_400_BAD_REQUEST,
            )
        accepted = str(card.suggestions[sid])
    return accepted


def _override_reason(item: dict[str, Any], outcome: str) -> dict[str, Any] | Response:
    """overrideReason is OPTIONAL (an override without a reason is valid). Given, it
    may not be empty (no {} in CDS Hooks JSON): a reason Coding (code and system, as
    the spec's Coding requires), a userComment, or both."""
    if "overrideReason" not in item:
        return {}
    given = item["overrideReason"]
    invalid = _error(
        "invalid",
        _(
            "overrideReason, when given, carries a reason Coding (system and code) "
            "and/or a userComment, and only for overridden outcomes."
        ),
        status.HTTP_400_BAD_REQUEST,
    )
    if outcome != FeedbackOutcome.OVERRIDDEN or not isinstance(given, dict):
        return invalid
    reason = given.get("reason")
    comment = given.get("userComment")
    if reason is not None and not (
        isinstance(reason, dict)
        and isinstance(reason.get("code"), str)
        and reason["code"].strip()
        and isinstance(reason.get("system"), str)
        and reason["system"].strip()
    ):
        return invalid
    if comment is not None and (not isinstance(comment, str) or not comment.strip()):
        return invalid
    if reason is None and comment is None:
        return invalid
    return given


def _uuid_or_none(value: Any) -> str | None:
    import uuid

    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None
