"""The API rate limit counts in the cache (Redis). When Redis is down the limit
cannot be counted: let the request through and say so in the log, rather than
answer 500 to every EHR call (found by bench/load_run.py's Redis restart)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from redis.exceptions import RedisError
from rest_framework.throttling import UserRateThrottle

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
