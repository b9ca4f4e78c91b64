from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
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


IDLE_KEY = "imaging_cds.last_activity"


class SessionIdleTimeoutMiddleware:
    """End a session left idle longer than SESSION_IDLE_SECONDS. The time of last
    activity is written at most once a minute, not on every request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = int(time.time())
            last = request.session.get(IDLE_KEY)
            if isinstance(last, int) and now - last > settings.SESSION_IDLE_SECONDS:
                logout(request)
                return redirect_to_login(request.get_full_path())
            if not isinstance(last, int) or now - last >= 60:
                request.session[IDLE_KEY] = now
        return self.get_response(request)
