"""FHIR R4 read endpoints: the ServiceRequest of an order signed here (with the rating
extensions the CDS Hooks answer writes) and a Slot search over free slots. Errors
are FHIR OperationOutcomes, not the REST API's JSON error."""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.http import Http404, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ordering.api.fhir_dates import FhirDateError, date_search_parse, date_search_q
from ordering.cds.cards import OrderRating, code_system_url, pama_code, rating_extensions
from ordering.models import Order, OrderStatus
from ordering.record import ConsultationRecord
from ordering.selectors import order_read
from scheduling.models import Slot, SlotStatus

FHIR_JSON = "application/fhir+json"
MAX_SLOTS = 100


def operation_outcome(
    status: int, code: str, diagnostics: str, *, content_type: str = FHIR_JSON
) -> JsonResponse:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}],
    }
    return JsonResponse(body, status=status, content_type=content_type)


class _FhirApi(APIView):
    def handle_exception(self, exc: Exception) -> Any:
        response = super().handle_exception(exc)
        code = {401: "login", 403: "forbidden", 404: "not-found", 429: "throttled"}.get(
            response.status_code, "processing"
        )
        message = str(getattr(exc, "detail", "")) or "error"
        return operation_outcome(response.status_code, code, message)


def service_request(order: Order) -> dict[str, Any]:
    consultation = order.consultation
    rating = ConsultationRecord(consultation).rating(order.procedure.code)
    order_rating = OrderRating(
        pama_code(rating["category"], rating["score"]) if rating else "no-criteria-apply",
        rating["category"] if rating else "",
        rating["score"] if rating else None,
    )
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": str(order.pk),
        "extension": rating_extensions(
            order_rating, consultation.pk, consultation.rule_set_version
        ),
        "status": "revoked" if order.status == OrderStatus.CANCELLED else "active",
        "intent": "order",
        "code": {
            "coding": [
                {
                    "system": code_system_url("procedure"),
                    "code": order.procedure.code,
                    "display": order.procedure.label_en,
                }
            ],
            "text": order.procedure.label_fr,
        },
        "subject": {"identifier": {"value": order.patient_identifier}},
        "authoredOn": order.signed_at.isoformat(),
    }
    if order.booking_id and order.booking:
        resource["occurrenceDateTime"] = order.booking.slot.start.isoformat()
    return resource


class ServiceRequestReadApi(_FhirApi):
    @extend_schema(exclude=True)
    def get(self, request: Request, order_id: str) -> Any:
        try:
            # The resource carries the patient's identifier: an audited read.
            order = order_read(request=request, order_id=order_id)
        except Http404:
            return operation_outcome(404, "not-found", "No such ServiceRequest.")
        return Response(service_request(order), content_type=FHIR_JSON)


class SlotSearchFhirApi(_FhirApi):
    """`GET /fhir/Slot?status=free&start=ge2025-06-01&_count=20` — free slots to come."""

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Any:
        status = request.query_params.get("status", "free")
        if status != "free":
            return operation_outcome(400, "not-supported", "Only status=free is searchable.")
        now = timezone.now()
        # Free slots to come, narrowed by every start=… given.
        when = Q(start__gte=now)
        for value in request.query_params.getlist("start"):
            try:
                when &= date_search_q("start", date_search_parse(value), now=now)
            except FhirDateError as exc:
                return operation_outcome(
                    400,
                    "invalid",
                    _("Parameter start: %(value)s is not a FHIR date search value: %(problem)s")
                    % {"value": value, "problem": exc},
                )
        try:
            count = min(MAX_SLOTS, max(1, int(request.query_params.get("_count", "20"))))
        except ValueError:
            return operation_outcome(400, "invalid", "_count must be a number.")
        slots = (
            Slot.objects.filter(when, status=SlotStatus.FREE)
            .select_related("equipment__centre")
            .order_by("start")[:count]
        )
        entries = [
            {
                "resource": {
                    "resourceType": "Slot",
                    "id": str(slot.pk),
                    "schedule": {"display": f"{slot.equipment.centre} — {slot.equipment}"},
                    "status": "free",
                    "start": slot.start.isoformat(),
                    "end": slot.end.isoformat(),
                }
            }
            for slot in slots
        ]
        bundle: dict[str, Any] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(entries),
        }
        if entries:
            bundle["entry"] = entries
        return Response(bundle, content_type=FHIR_JSON)
