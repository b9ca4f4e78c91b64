"""One shape for every REST API error: {"error": {"code", "message", "fields"?}}."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, status
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
