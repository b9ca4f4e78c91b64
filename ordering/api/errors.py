"""One shape for every REST API error: {"error": {"code", "message", "fields"?}}."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        body: dict[str, Any] = {
            "code": "invalid",
            "message": "The request is not valid.",
            "fields": exc.detail,
        }
    elif isinstance(exc, exceptions.APIException):
        detail = exc.detail
        body = {
            "code": exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code,
            "message": str(detail.get("detail", detail) if isinstance(detail, dict) else detail),
        }
    else:  # pragma: no cover - DRF only hands APIException and Http404/PermissionDenied here
        body = {"code": "error", "message": str(exc)}
    if response.status_code == status.HTTP_404_NOT_FOUND:
        body = {"code": "not_found", "message": "Not found."}
    elif response.status_code == status.HTTP_403_FORBIDDEN and body["code"] == "error":
        body["code"] = "permission_denied"
    response.data = {"error": body}
    return response


# --- The error shape in the OpenAPI schema -------------------------------------------


@extend_schema_serializer(component_name="ErrorBody")
class _ErrorBody(serializers.Serializer[dict[str, Any]]):
    code = serializers.CharField()
    message = serializers.CharField()
    # Validation errors, by field. DRF pops declared fields, so the name is free.
    fields = serializers.DictField(required=False)  # type: ignore[assignment]


@extend_schema_serializer(component_name="Error")
class ErrorSerializer(serializers.Serializer[dict[str, Any]]):
    """{"error": {"code", "message", "fields"?}}: every REST API error."""

    error = _ErrorBody()


# Every authenticated operation: no or bad token (401), not an api_client (403),
# past API_RATE_LIMIT (429).
_ALWAYS = (401, 403, 429)


def error_responses(*codes: int) -> dict[int, type[ErrorSerializer]]:
    """The documented error answers of an operation: the usual ones plus `codes`
    (400 invalid input, 404 someone else's or no object, 409 slot taken, 413 body
    too large)."""
    return dict.fromkeys(sorted({*_ALWAYS, *codes}), ErrorSerializer)


@csrf_exempt  # a 404 either way; a POST without a CSRF token must not get HTML 403
def api_not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Any other URL under /api/v1/ (an id that is not a UUID, a typo): the API's
    JSON 404, not Django's HTML page."""
    return JsonResponse({"error": {"code": "not_found", "message": "Not found."}}, status=404)
