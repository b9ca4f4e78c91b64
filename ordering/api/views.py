"""REST API v1. One view per action; each validates, calls a service or selector,
and serialises (HackSoft style). Decision logic lives in the stages, not here."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from guidelines.codes import CCAM_CODE
from guidelines.engine import NoPublishedRuleSet, published_rule_set_compiled
from guidelines.models import Indication, Intention, Priority, Procedure
from guidelines.resolve import resolve
from guidelines.selectors import procedures_by_ccam
from ordering.api.errors import error_responses
from ordering.api.pagination import PAGE_PARAMETERS, BoundedLimitOffsetPagination
from ordering.booking_centres import booking_centres
from ordering.contract import (
    EGFR_MAX,
    EGFR_MIN,
    PATIENT_FIELDS,
    WEIGHT_KG_MAX,
    WEIGHT_KG_MIN,
    InputError,
    decision_input_validate,
    identity_traits_validate,
)
from ordering.decision import (
    EMERGENCY_DEPARTMENT,
    RECORDED_OPTIONS,
    OptionFilters,
    Options,
    consultation_options,
    decision_make,
)
from ordering.models import (
    CdsModeValue,
    Consultation,
    DecisionFeedback,
    FeedbackOutcome,
    Order,
    OrderStatus,
)
from ordering.order_sheet import order_reference
from ordering.order_views import booking_url
from ordering.pilot.measures import decision_mode
from ordering.record import ConsultationRecord, priority_label
from ordering.selectors import consultation_get, consultation_read, order_get, order_read
from ordering.services import (
    DecisionChangedError,
    DuplicateOrderError,
    PatientIdentity,
    order_cancel,
    order_sign,
    order_slot_hold,
)
from scheduling.no_slot import NoSlotAction, NoSlotCause
from scheduling.services.booking import SlotTakenError


@extend_schema_serializer(component_name="ProcedureListOutput")
class _ProcedureOut(serializers.ModelSerializer[Procedure]):
    class Meta:
        model = Procedure
        fields = (
            "code",
            "label_fr",
            "label_en",
            "modality",
            "body_region",
            "contrast",
            "dose_class",
            "duration_minutes",
            "ccam_codes",
        )


@extend_schema_serializer(component_name="ProcedurePage")
class _ProcedurePage(serializers.Serializer[dict[str, Any]]):
    """LimitOffsetPagination's page."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = _ProcedureOut(many=True)


class ProcedureListApi(APIView):
    OutputSerializer = _ProcedureOut

    @extend_schema(
        parameters=[
            *PAGE_PARAMETERS,
            OpenApiParameter(
                "ccam",
                str,
                required=False,
                description=(
                    "A CCAM code (seven characters, e.g. ZBQK002): only the exams that "
                    "carry it, as verified against the published nomenclature."
                ),
            ),
        ],
        responses={200: _ProcedurePage, **error_responses(400)},
        operation_id="procedures_list",
    )
    def get(self, request: Request) -> Response:
        paginator = BoundedLimitOffsetPagination()
        ccam = request.query_params.get("ccam")
        queryset: Any = Procedure.objects.order_by("code")
        if ccam is not None:
            if not CCAM_CODE.match(ccam.strip().upper()):
                raise serializers.ValidationError(
                    {"ccam": [_("Not a CCAM code: four letters then three digits.")]}
                )
            queryset = procedures_by_ccam(code=ccam)
        page: Any = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)


class PingApi(APIView):
    """A bare endpoint: no authentication, throttle or database. Liveness for an EHR,
    and the baseline the CDS Hooks benchmark compares a hook with."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes: list[type] = []

    @extend_schema_serializer(component_name="PingOutput")
    class OutputSerializer(serializers.Serializer[dict[str, Any]]):
        ok = serializers.BooleanField()

    @extend_schema(responses={200: OutputSerializer}, operation_id="ping", auth=[])
    def get(self, request: Request) -> Response:
        return Response({"ok": True})


def _validation(error: DjangoValidationError) -> serializers.ValidationError:
    """A service's refusal as the API's 400, on the field it is about when it is one."""
    fields = {
        "identity_mismatch": "patient_identifier",
        "not_offered": "procedure_code",
        "slot_unsuitable": "slot_id",
        "pregnancy_unanswered": "procedure_code",
    }
    name = fields.get(str(getattr(error, "code", "")), "non_field_errors")
    return serializers.ValidationError({name: error.messages})


def _contract_errors(error: InputError) -> serializers.ValidationError:
    """The contract's field names as this API nests them: the patient's under "patient"."""
    patient = {k: v for k, v in error.errors.items() if k in PATIENT_FIELDS}
    body: dict[str, Any] = {k: v for k, v in error.errors.items() if k not in PATIENT_FIELDS}
    if patient:
        body["patient"] = patient
    return serializers.ValidationError(body)


class _Rating(serializers.Serializer[dict[str, Any]]):
    procedure_code = serializers.CharField()
    label_fr = serializers.CharField()
    label_en = serializers.CharField()
    modality = serializers.CharField()
    category = serializers.CharField()
    score = serializers.IntegerField()
    evidence = serializers.CharField()
    intention = serializers.ChoiceField(choices=Intention.choices)
    priority = serializers.ChoiceField(
        choices=Priority.choices,
        help_text="How soon the rule says the exam should be done: urgent, within_week or "
        "within_weeks (the French guide's délais).",
    )
    priority_label_fr = serializers.CharField(help_text="The priority in French words.")
    priority_label_en = serializers.CharField(help_text="The priority in English words.")
    dose_class = serializers.IntegerField()
    rationale_fr = serializers.CharField()
    rationale_en = serializers.CharField()
    source = serializers.DictField()  # type: ignore[assignment]  # DRF pops declared fields
    redundancy = serializers.DictField(allow_null=True)
    contraindications = serializers.ListField(child=serializers.DictField())
    warnings = serializers.ListField(child=serializers.DictField())


@extend_schema_serializer(component_name="NoSlotReason")
class _NoSlot(serializers.Serializer[dict[str, Any]]):
    cause = serializers.ChoiceField(
        choices=[c.value for c in NoSlotCause],
        help_text="no_machine: no machine performs the exam within radius_km; none_free: "
        "none has a free slot (or run of slots) within horizon_days; patient: the "
        "patient's constraints (excluded_by) rule every machine out; filters: the "
        "search's filters do.",
    )
    message = serializers.CharField(help_text="Why, in the request's language.")
    advice = serializers.ListField(
        child=serializers.CharField(), help_text="What to do, one sentence per action."
    )
    actions = serializers.ListField(
        child=serializers.ChoiceField(choices=[a.value for a in NoSlotAction])
    )
    excluded_by = serializers.ListField(child=serializers.CharField())
    radius_km = serializers.FloatField()
    horizon_days = serializers.IntegerField()
    widen_to_km = serializers.IntegerField(
        allow_null=True, help_text="A max_distance_km at which a free slot was found."
    )
    next_free = serializers.DateTimeField(allow_null=True)
    centres = serializers.ListField(child=serializers.DictField())


class _Option(serializers.Serializer[dict[str, Any]]):
    procedure_code = serializers.CharField()
    total = serializers.FloatField()
    slot_id = serializers.IntegerField(
        allow_null=True, help_text="The first slot: what holds_create and orders_create take."
    )
    start = serializers.DateTimeField(allow_null=True)
    end = serializers.DateTimeField(
        allow_null=True, help_text="End of the exam: of the last slot of its run."
    )
    slot_ids = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="Every slot the exam takes, consecutive on one machine (one for an exam "
        "that fits a slot).",
    )
    centre_name = serializers.CharField(allow_blank=True)
    town = serializers.CharField(allow_blank=True)
    distance_km = serializers.FloatField(allow_null=True)
    no_slot = _NoSlot(allow_null=True, help_text="Why there is no slot, when slot_id is null.")


@extend_schema_serializer(component_name="Referral")
class _Referral(serializers.Serializer[dict[str, Any]]):
    kind = serializers.ChoiceField(choices=[EMERGENCY_DEPARTMENT])
    procedure_code = serializers.CharField(
        help_text="The urgent exam for which no slot could be offered."
    )
    message = serializers.CharField(help_text="What to do, in the answer's language.")


class _Consultation(serializers.Serializer[dict[str, Any]]):
    consultation_id = serializers.UUIDField()
    created_at = serializers.DateTimeField()
    mode = serializers.ChoiceField(
        choices=CdsModeValue.choices,
        help_text="The decision-support mode the decision was made in. silent (or off): "
        "the decision is recorded in full but the answer says nothing of the rating (no "
        "ratings, scores 0, options ordered by exam code); active: everything.",
    )
    indication_code = serializers.CharField(allow_blank=True)
    status = serializers.CharField()
    rule_set_version = serializers.IntegerField(allow_null=True)
    no_imaging_indicated = serializers.BooleanField()
    ratings = _Rating(many=True)
    priors = serializers.DictField()
    options = _Option(many=True)
    referral = _Referral(
        required=False,
        help_text="Present when the patient must be sent to the emergency department: the "
        "best exam is urgent and no slot can be offered for any exam worth one (under "
        "the filters of this answer).",
    )
    notices = serializers.ListField(
        child=serializers.DictField(child=serializers.CharField()),
        help_text="Facts given that the answer could not use as asked, each with a code, "
        "the field and a message (e.g. postcode_outside_territory: the centres are "
        "listed without distances). Empty when there is none.",
    )
    understanding = serializers.DictField(
        required=False,
        help_text="What was read from indication_text: suggestions with their confidence, "
        "red flags and risk facts stated present or absent, age, sex, duration, side, "
        "unused words. Absent when no text was given.",
    )


def _rating_data(rating: dict[str, Any]) -> dict[str, Any]:
    code = str(rating.get("priority", ""))
    return {
        **rating,
        "priority_label_fr": priority_label(code, "fr"),
        "priority_label_en": priority_label(code, "en"),
    }


def _consultation_data(consultation: Consultation, options: Options) -> dict[str, Any]:
    """The decision as the API answers it. In silent mode (the mode the decision was
    made in) it says nothing of the rating: no ratings, no scores, the options in the
    order of their exam's code, as the page shows them without ratings."""
    outputs = consultation.outputs
    mode = decision_mode(consultation)
    shown = mode == CdsModeValue.ACTIVE
    rows = []
    for ranked in options.ranking.options[:RECORDED_OPTIONS]:
        slot = options.slot_for(ranked)
        no_slot = None if slot else options.no_slot(ranked.rated.procedure_code)
        rows.append(
            {
                "procedure_code": ranked.rated.procedure_code,
                "total": ranked.total if shown else 0.0,
                "slot_id": slot.slot_id if slot else None,
                "start": slot.start if slot else None,
                "end": slot.end if slot else None,
                "slot_ids": list(slot.slot_ids) if slot else [],
                "centre_name": slot.centre_name if slot else "",
                "town": slot.town if slot else "",
                "distance_km": slot.distance_km if slot else None,
                "no_slot": no_slot.as_dict() if no_slot else None,
            }
        )
    if not shown:
        # The rank itself says what the rating was.
        rows.sort(key=lambda row: (row["procedure_code"], row["start"] is None, row["start"]))
    return {
        "consultation_id": consultation.pk,
        "created_at": consultation.created_at,
        "mode": mode.value,
        "indication_code": consultation.indication_code,
        "status": outputs.get("status", ""),
        "rule_set_version": consultation.rule_set_version,
        "no_imaging_indicated": shown and bool(outputs.get("no_imaging_indicated")),
        "ratings": [_rating_data(r) for r in outputs.get("ratings", [])] if shown else [],
        "priors": outputs.get("priors", {}),
        "options": rows,
        "notices": ConsultationRecord(consultation).notices(),
        **({"referral": options.referral.as_dict()} if options.referral else {}),
        **(
            {"understanding": consultation.inputs["understanding"]}
            if "understanding" in consultation.inputs
            else {}
        ),
    }


@extend_schema_serializer(component_name="RedFlag")
class _RedFlag(serializers.Serializer[dict[str, Any]]):
    code = serializers.CharField()
    label_fr = serializers.CharField()
    label_en = serializers.CharField()


class IndicationSearchApi(APIView):
    """The indications of the published rule set, each with the red-flag codes
    `evaluate` accepts for it; with `q`, those matching the words, best first."""

    @extend_schema_serializer(component_name="IndicationSearchInput")
    class InputSerializer(serializers.Serializer[dict[str, Any]]):
        q = serializers.CharField(max_length=200, required=False)

    @extend_schema_serializer(component_name="IndicationSearchOutput")
    class OutputSerializer(serializers.Serializer[dict[str, Any]]):
        code = serializers.CharField()
        label_fr = serializers.CharField()
        label_en = serializers.CharField()
        score = serializers.FloatField()
        matched = serializers.CharField(allow_blank=True)
        red_flags = _RedFlag(many=True)

    @extend_schema(
        parameters=[InputSerializer],
        responses={200: OutputSerializer(many=True), **error_responses(400)},
        operation_id="indications_search",
    )
    def get(self, request: Request) -> Response:
        query = self.InputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        words = query.validated_data.get("q", "")
        try:
            rules = published_rule_set_compiled()
        except NoPublishedRuleSet:
            return Response([])
        if words:
            found = [(c.code, c.score, c.matched) for c in resolve(words, rules)]
        else:
            found = [(code, 1.0, "") for code in sorted(rules.entries)]
        flags = dict(
            Indication.objects.filter(code__in=[code for code, _, _ in found]).values_list(
                "code", "red_flags"
            )
        )
        rows = [
            {
                "code": code,
                "label_fr": rules.entries[code].indication.label_fr,
                "label_en": rules.entries[code].indication.label_en,
                "score": score,
                "matched": matched,
                "red_flags": flags.get(code) or [],
            }
            for code, score, matched in found
        ]
        return Response(self.OutputSerializer(rows, many=True).data)  # type: ignore[arg-type]


class _PatientIn(serializers.Serializer[dict[str, Any]]):
    """Types only: every rule on the values is ordering.contract's, shared with the
    prescriber page and CDS Hooks, so a bad value gets the same message everywhere."""

    identifier = serializers.CharField(max_length=40, allow_blank=True)
    identifier_kind = serializers.ChoiceField(choices=["ins", "local"])
    birth_date = serializers.DateField()
    sex = serializers.ChoiceField(choices=["F", "M", "U"])
    postcode = serializers.CharField(max_length=10, required=False, allow_blank=True)
    pregnancy = serializers.ChoiceField(choices=["yes", "no", "unknown"], default="unknown")
    weight_kg = serializers.FloatField(
        required=False, help_text=f"{WEIGHT_KG_MIN:g} to {WEIGHT_KG_MAX:g} kg"
    )
    egfr = serializers.FloatField(
        required=False, help_text=f"{EGFR_MIN:g} to {EGFR_MAX:g} mL/min/1.73 m²"
    )
    egfr_date = serializers.DateField(
        required=False, help_text="When the eGFR was measured (printed on the order)."
    )
    mri_unsafe_implant = serializers.BooleanField(default=False)
    contrast_allergy = serializers.BooleanField(default=False)
    claustrophobia = serializers.BooleanField(default=False)
    reduced_mobility = serializers.BooleanField(default=False)


class EvaluateApi(APIView):
    """The whole decision: ratings, prior exams, ranked options, the consultation id."""

    @extend_schema_serializer(component_name="EvaluateInput")
    class InputSerializer(serializers.Serializer[dict[str, Any]]):
        patient = _PatientIn()
        indication_code = serializers.CharField(
            max_length=80,
            required=False,
            allow_blank=True,
            help_text="A code from GET /api/v1/indications, or a CIM-10 / ICD-10-CM or "
            "SNOMED CT code one of them carries.",
        )
        indication_text = serializers.CharField(
            max_length=10_000,
            required=False,
            allow_blank=True,
            help_text="The order's text, as the prescriber wrote it (French or English): "
            "read for the indication, red flags, risk facts, age, sex and duration. "
            "`understanding` in the answer says what was read and used.",
        )
        red_flags = serializers.ListField(
            child=serializers.CharField(max_length=80),
            default=list,
            help_text="Red flags present: codes the indication lists (GET /api/v1/indications).",
        )
        red_flags_absent = serializers.ListField(
            child=serializers.CharField(max_length=80),
            default=list,
            help_text="Red flags the prescriber states absent (kept in the record).",
        )
        max_distance_km = serializers.FloatField(min_value=1, max_value=1000, default=60.0)
        public_only = serializers.BooleanField(default=False)

    @extend_schema(
        request=InputSerializer,
        responses={201: _Consultation, **error_responses(400, 413, 415)},
        operation_id="evaluate",
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            checked = decision_input_validate(
                patient=values["patient"],
                indication_code=values.get("indication_code"),
                indication_text=values.get("indication_text"),
                red_flags=values["red_flags"],
                red_flags_absent=values["red_flags_absent"],
            )
        except InputError as error:
            raise _contract_errors(error) from None
        outcome = decision_make(
            prescriber=request.user,
            patient=checked.patient,
            clinical=checked.clinical,
            filters=OptionFilters(
                max_distance_km=values["max_distance_km"], public_only=values["public_only"]
            ),
            request=request,
        )
        body = _consultation_data(outcome.consultation, outcome.options)
        return Response(_Consultation(body).data, status=201)


class ConsultationDetailApi(APIView):
    @extend_schema(
        responses={200: _Consultation, **error_responses(404)},
        operation_id="consultations_read",
    )
    def get(self, request: Request, consultation_id: uuid.UUID) -> Response:
        consultation = consultation_read(request=request, consultation_id=consultation_id)
        options = consultation_options(consultation, OptionFilters())
        return Response(_Consultation(_consultation_data(consultation, options)).data)


class SlotSearchApi(APIView):
    """Free slots for a consultation's exams, under these filters (the ranking's order)."""

    @extend_schema_serializer(component_name="SlotSearchInput")
    class InputSerializer(serializers.Serializer[dict[str, Any]]):
        consultation = serializers.UUIDField()
        max_distance_km = serializers.FloatField(min_value=1, max_value=1000, default=60.0)
        public_only = serializers.BooleanField(default=False)
        not_before = serializers.DateField(required=False)

    @extend_schema(
        parameters=[InputSerializer],
        responses={200: _Option(many=True), **error_responses(400, 404)},
        operation_id="slots_search",
    )
    def get(self, request: Request) -> Response:
        query = self.InputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        values = query.validated_data
        consultation = consultation_read(request=request, consultation_id=values["consultation"])
        options = consultation_options(
            consultation,
            OptionFilters(
                max_distance_km=values["max_distance_km"],
                public_only=values["public_only"],
                not_before=values.get("not_before"),
            ),
        )
        rows = [r for r in _consultation_data(consultation, options)["options"] if r["slot_id"]]
        return Response(_Option(rows, many=True).data)  # type: ignore[arg-type]


class HoldCreateApi(APIView):
    @extend_schema_serializer(component_name="HoldCreateInput")
    class InputSerializer(serializers.Serializer[dict[str, Any]]):
        consultation = serializers.UUIDField()
        slot_id = serializers.IntegerField(min_value=1)
        procedure_code = serializers.CharField(max_length=80)

    @extend_schema_serializer(component_name="HoldCreateOutput")
    class OutputSerializer(serializers.Serializer[dict[str, Any]]):
        slot_id = serializers.IntegerField()
        held_until = serializers.DateTimeField()
        slot_ids = serializers.ListField(
            child=serializers.IntegerField(), help_text="Every slot held: the exam's run."
        )
        end = serializers.DateTimeField(allow_null=True, help_text="End of the held run.")

    @extend_schema(
        request=InputSerializer,
        responses={201: OutputSerializer, **error_responses(400, 404, 409, 413, 415)},
        operation_id="holds_create",
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        consultation = consultation_get(user=request.user, consultation_id=values["consultation"])
        try:
            hold = order_slot_hold(
                consultation=consultation,
                slot_id=values["slot_id"],
                procedure_code=values["procedure_code"],
                user=request.user,
            )
        except SlotTakenError as taken:
            return _slot_taken(taken)
        except DjangoValidationError as error:
            raise _validation(error) from None
        body = {
            "slot_id": hold.slot_id,
            "held_until": hold.held_until,
            "slot_ids": list(hold.slot_ids),
            "end": hold.end,
        }
        return Response(self.OutputSerializer(body).data, status=201)


def _decision_changed(changed: DecisionChangedError) -> Response:
    body = {
        "code": "decision_changed",
        "message": " ".join(changed.messages),
        "alternatives": changed.alternatives,
    }
    return Response({"error": body}, status=409)


def _duplicate_order(duplicate: DuplicateOrderError) -> Response:
    body = {
        "code": "duplicate_order",
        "message": " ".join(duplicate.messages),
        "prior_date": duplicate.prior_date.isoformat(),
    }
    return Response({"error": body}, status=409)


def _slot_taken(taken: SlotTakenError) -> Response:
    alternatives = [
        {"slot_id": a.slot_id, "start": a.start, "end": a.end, "slot_ids": list(a.slot_ids)}
        for a in taken.alternatives
    ]
    body = {"code": "slot_taken", "message": " ".join(taken.messages), "alternatives": alternatives}
    return Response({"error": body}, status=409)


class _BookingCentreOut(serializers.Serializer[dict[str, Any]]):
    name = serializers.CharField()
    address = serializers.CharField()
    postcode = serializers.CharField()
    town = serializers.CharField()
    phone = serializers.CharField(allow_blank=True)
    distance_km = serializers.FloatField(allow_null=True)
    next_slots = serializers.ListField(child=serializers.DateTimeField())


class _OrderOut(serializers.Serializer[dict[str, Any]]):
    order_id = serializers.UUIDField()
    consultation_id = serializers.UUIDField()
    procedure_code = serializers.CharField()
    status = serializers.CharField()
    signed_at = serializers.DateTimeField()
    cancelled_at = serializers.DateTimeField(allow_null=True)
    slot_id = serializers.IntegerField(allow_null=True)
    slot_start = serializers.DateTimeField(allow_null=True)
    slot_end = serializers.DateTimeField(allow_null=True)
    slot_ids = serializers.ListField(child=serializers.IntegerField())
    rating_category = serializers.CharField(allow_blank=True)
    rating_score = serializers.IntegerField(allow_null=True)
    reference = serializers.CharField(help_text="The short reference the patient quotes.")
    booking_url = serializers.URLField(
        allow_null=True,
        help_text="Signed without a booking: the patient's booking page (the QR code's "
        "target); null once booked or cancelled.",
    )
    booking_centres = _BookingCentreOut(
        many=True,
        help_text="Signed without a booking: the centres that can perform the exam, "
        "nearest first, with their next free slots and phone numbers.",
    )


def _order_data(order: Order, request: Request) -> dict[str, Any]:
    rating = ConsultationRecord(order.consultation).rating(order.procedure.code)
    slot = order.booking.slot if order.booking else None
    unbooked = order.booking_id is None and order.status == OrderStatus.SIGNED
    run = order.booking.run_slots if order.booking else []
    return {
        "order_id": order.pk,
        "consultation_id": order.consultation_id,
        "procedure_code": order.procedure.code,
        "status": order.status,
        "signed_at": order.signed_at,
        "cancelled_at": order.cancelled_at,
        "slot_id": slot.pk if slot else None,
        "slot_start": slot.start if slot else None,
        "slot_end": run[-1].end if run else None,
        "slot_ids": [s.pk for s in run],
        "rating_category": rating["category"] if rating else "",
        "rating_score": rating["score"] if rating else None,
        "reference": order_reference(order),
        "booking_url": booking_url(request, order) if unbooked else None,
        "booking_centres": [vars(c) for c in booking_centres(order)] if unbooked else [],
    }


class OrderCreateApi(APIView):
    """Sign an order: book the slot and sign together (both or neither); without
    ``slot_id``, sign it without a booking (the patient books later: the answer gives
    the booking page and the centres)."""

    @extend_schema_serializer(component_name="OrderCreateInput")
    class InputSerializer(serializers.Serializer[dict[str, Any]]):
        consultation = serializers.UUIDField()
        slot_id = serializers.IntegerField(
            min_value=1,
            required=False,
            allow_null=True,
            help_text="The held slot to book; absent or null: signed without a booking.",
        )
        procedure_code = serializers.CharField(max_length=80)
        patient_identifier = serializers.CharField(max_length=40)
        patient_identifier_kind = serializers.ChoiceField(choices=["ins", "local"])
        patient_birth_date = serializers.DateField()
        patient_sex = serializers.ChoiceField(choices=["F", "M", "U"])
        # An identical order signed for this patient within the rule's interval is a
        # 409 duplicate_order; true here says the repeat is meant.
        confirm_duplicate = serializers.BooleanField(required=False, default=False)
        patient_birth_name = serializers.CharField(
            max_length=100, help_text="Birth name, printed on the order for the centre."
        )
        patient_given_names = serializers.CharField(
            max_length=150, help_text="First given name(s), printed on the order."
        )

    @extend_schema(
        request=InputSerializer,
        responses={201: _OrderOut, **error_responses(400, 404, 409, 413, 415)},
        operation_id="orders_create",
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            identity_traits_validate(
                birth_name=values["patient_birth_name"], given_names=values["patient_given_names"]
            )
        except InputError as error:
            raise serializers.ValidationError(
                {f"patient_{name}": messages for name, messages in error.errors.items()}
            ) from None
        consultation = consultation_get(user=request.user, consultation_id=values["consultation"])
        try:
            order = order_sign(
                consultation=consultation,
                slot_id=values.get("slot_id"),
                procedure_code=values["procedure_code"],
                patient=PatientIdentity(
                    identifier=values["patient_identifier"],
                    identifier_kind=values["patient_identifier_kind"],
                    birth_date=values["patient_birth_date"],
                    sex=values["patient_sex"],
                    birth_name=values["patient_birth_name"],
                    given_names=values["patient_given_names"],
                ),
                user=request.user,
                request=request,
                confirm_duplicate=values["confirm_duplicate"],
            )
        except SlotTakenError as taken:
            return _slot_taken(taken)
        except DuplicateOrderError as duplicate:
            return _duplicate_order(duplicate)
        except DecisionChangedError as changed:
            return _decision_changed(changed)
        except DjangoValidationError as error:
            raise _validation(error) from None
        return Response(_OrderOut(_order_data(order, request)).data, status=201)


class OrderDetailApi(APIView):
    @extend_schema(responses={200: _OrderOut, **error_responses(404)}, operation_id="orders_read")
    def get(self, request: Request, order_id: uuid.UUID) -> Response:
        order = order_read(request=request, order_id=order_id)
        return Response(_OrderOut(_order_data(order, request)).data)


class OrderCancelApi(APIView):
    @extend_schema(
        request=None,
        responses={200: _OrderOut, **error_responses(404, 413, 415)},
        operation_id="orders_cancel",
    )
    def post(self, request: Request, order_id: uuid.UUID) -> Response:
        order = order_cancel(
            order=order_get(user=request.user, order_id=order_id),
            user=request.user,
            request=request,
        )
        return Response(_OrderOut(_order_data(order, request)).data)


class FeedbackCreateApi(APIView):
    """What the prescriber did with the advice, for a consultation this client made."""

    @extend_schema_serializer(component_name="FeedbackCreateInput")
    class InputSerializer(serializers.Serializer[dict[str, Any]]):
        outcome = serializers.ChoiceField(choices=FeedbackOutcome.choices)
        accepted_procedure_code = serializers.CharField(max_length=80, required=False)
        override_reason_code = serializers.CharField(max_length=80, required=False)
        override_comment = serializers.CharField(max_length=4000, required=False)

    @extend_schema_serializer(component_name="FeedbackCreateOutput")
    class OutputSerializer(serializers.Serializer[dict[str, Any]]):
        id = serializers.IntegerField()
        outcome = serializers.CharField()

    @extend_schema(
        request=InputSerializer,
        responses={201: OutputSerializer, **error_responses(400, 404, 413, 415)},
        operation_id="feedback_create",
    )
    def post(self, request: Request, consultation_id: uuid.UUID) -> Response:
        consultation = consultation_get(user=request.user, consultation_id=consultation_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        record = DecisionFeedback.objects.create(
            consultation=consultation,
            outcome=values["outcome"],
            accepted_procedure_code=values.get("accepted_procedure_code", ""),
            override_reason_code=values.get("override_reason_code", ""),
            override_comment=values.get("override_comment", ""),
            outcome_at=timezone.now(),
            recorded_by=request.user,  # type: ignore[misc]  # IsApiClient: authenticated
        )
        return Response({"id": record.pk, "outcome": record.outcome}, status=201)
