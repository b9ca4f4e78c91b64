"""CORS for the CDS Hooks endpoints only: CDS Hooks 2.0 says services and browser-based
CDS clients need it. Any origin may call, since who calls is proven by the signed JWT
on each request, never by a cookie: no credentials are allowed, so a browser never
attaches one. A preflight is answered here, before authentication (a browser sends
it without the Authorization header); every other answer under /cds-services, errors
included, carries Access-Control-Allow-Origin so the calling page can read it."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

PREFIX = "/cds-services"
ALLOW_HEADERS = "Authorization, Content-Type"
ALLOW_METHODS = "GET, POST, OPTIONS"
MAX_AGE_SECONDS = "600"


def _is_cds_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


class CdsHooksCorsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not _is_cds_path(request.path):
            return self.get_response(request)
        if (
            request.method == "OPTIONS"
            and "HTTP_ORIGIN" in request.META
            and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in request.META
        ):
            response = HttpResponse(status=204)
            response["Access-Control-Allow-Methods"] = ALLOW_METHODS
            response["Access-Control-Allow-Headers"] = ALLOW_HEADERS
            response["Access-Control-Max-Age"] = MAX_AGE_SECONDS
        else:
            response = self.get_response(request)
            # A throttled EHR page can then read when to come back.
            response["Access-Control-Expose-Headers"] = "Retry-After"
        response["Access-Control-Allow-Origin"] = "*"
        return response
