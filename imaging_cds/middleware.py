from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from imaging_cds.audit import audit_request_context


class BodySizeLimitMiddleware:
    """Refuse an oversized body with 413 before any view or parser reads it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.MAX_REQUEST_BODY_BYTES
        if length > limit:
            message = f"The request body exceeds {limit} bytes."
            return JsonResponse(
                {"error": {"code": "payload_too_large", "message": message}}, status=413
            )
        return self.get_response(request)


class AuditContextMiddleware:
    """Lets audit records made anywhere while serving a request say who and from where."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with audit_request_context(request):
            return self.get_response(request)
