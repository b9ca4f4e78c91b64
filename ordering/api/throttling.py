"""The API rate limit counts in the cache (Redis). When Redis is down the limit
cannot be counted: let the request through and say so in the log, rather than
answer 500 to every EHR call (found by bench/load_run.py's Redis restart)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.conf import settings
from redis.exceptions import RedisError
from rest_framework.throttling import SimpleRateThrottle, UserRateThrottle

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView

log = logging.getLogger(__name__)


class CacheSafeUserRateThrottle(UserRateThrottle):
    def allow_request(self, request: Request, view: APIView) -> bool:
        try:
            return super().allow_request(request, view)
        except (RedisError, ConnectionError, TimeoutError) as exc:
            log.warning("API rate limit not counted, cache unavailable: %s", type(exc).__name__)
            return True


class CdsClientRateThrottle(SimpleRateThrottle):
    """CDS Hooks calls counted per EHR client (its JWT issuer's registration), at
    CDS_RATE_LIMIT: an EHR's hooks fire with every order and must not share the REST
    API's per-user budget. Runs after authentication, so only verified clients count."""

    scope = "cds"

    def get_rate(self) -> str:
        return str(settings.CDS_RATE_LIMIT)

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        from ordering.cds.auth import VerifiedClient

        verified = request.auth
        if not isinstance(verified, VerifiedClient):
            return None
        return self.cache_format % {"scope": self.scope, "ident": verified.client.pk}

    def allow_request(self, request: Request, view: APIView) -> bool:
        try:
            return super().allow_request(request, view)
        except (RedisError, ConnectionError, TimeoutError) as exc:
            log.warning("CDS rate limit not counted, cache unavailable: %s", type(exc).__name__)
            return True
