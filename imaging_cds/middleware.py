from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

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


# --- A lost database is a 503, not a 500 -----------------------------------------------

logger = logging.getLogger(__name__)

# What Django raises when PostgreSQL ends the connection (a restart, a failover,
# pg_terminate_backend) or cannot be reached. Django closes the broken connection at
# the end of the request and the next request opens a fresh one.
DATABASE_LOST = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 5
_LOST_KEY = "imaging_cds.database_lost"
_MACHINE_PREFIXES = ("/api/", "/cds-services")


class DatabaseUnavailableMiddleware:
    """Answer 503 with Retry-After when the database is lost mid-request: JSON for the
    API and CDS Hooks, an OperationOutcome for FHIR, a short page for the browser.

    A view's exception arrives in process_exception (DRF re-raises what is not an
    APIException). One raised in another middleware (the session read behind
    request.user) has already been turned into a 500 by Django when it gets here;
    the got_request_exception receiver below marks the request, and this
    middleware, first in MIDDLEWARE, replaces that 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 500 and request.META.get(_LOST_KEY):
            return database_unavailable(request)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DATABASE_LOST):
            _log_lost(request, exception)
            return database_unavailable(request)
        return None


def _note_lost_database(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    # Sent by Django inside its exception handler, so sys.exc_info() is the exception.
    exception = sys.exc_info()[1]
    if request is not None and isinstance(exception, DATABASE_LOST):
        _log_lost(request, exception)
        request.META[_LOST_KEY] = True


got_request_exception.connect(_note_lost_database, dispatch_uid="imaging_cds.database_lost")


def _log_lost(request: HttpRequest, exception: BaseException) -> None:
    # The class only: a driver's message may quote the statement and its values.
    logger.warning(
        "database unavailable (%s) during %s %s",
        type(exception).__name__,
        request.method,
        request.path,
    )


def database_unavailable(request: HttpRequest) -> HttpResponse:
    message = _("The database is unavailable. Try again in a few seconds.")
    response: HttpResponse
    if request.path.startswith("/fhir/"):
        body = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "transient", "diagnostics": message}],
        }
        response = JsonResponse(body, status=503, content_type="application/fhir+json")
    elif request.path.startswith(_MACHINE_PREFIXES):
        response = JsonResponse(
            {"error": {"code": "database_unavailable", "message": message}}, status=503
        )
    else:
        # No request context: its processors would read the session, from the database.
        response = HttpResponse(
            render_to_string("imaging_cds/database_unavailable.html"), status=503
        )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
