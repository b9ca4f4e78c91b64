"""The public keys an EHR signs its CDS Hooks JWTs with: its registered JWK Set, and/or
the one served at its registered `jwks_url`. A served set is cached (Django cache, a
TTL); a token naming a `kid` the cached set lacks triggers one refetch (the EHR rotated
its keys), at most once per interval per URL so that forged kids cannot make us hammer
the EHR. A token's `jku` is followed only when it is the registered URL: CDS Hooks
asks services to allow-list `jku`, and fetching any URL a token names would let anyone
bring their own keys."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import requests
from django.conf import settings
from django.core.cache import cache
from redis.exceptions import RedisError

from ordering.models import EhrClient

log = logging.getLogger(__name__)
FETCH_TIMEOUT_SECONDS = 2.0
MAX_JWKS_BYTES = 256_000


class JwksUnavailable(LookupError):
    pass


def _cache_key(kind: str, url: str) -> str:
    return f"cds-jwks:{kind}:{hashlib.sha256(url.encode()).hexdigest()}"


def _fetch(url: str) -> list[dict[str, Any]]:
    try:
        response = requests.get(url, timeout=FETCH_TIMEOUT_SECONDS, allow_redirects=False)
    except requests.RequestException as exc:
        raise JwksUnavailable(f"the JWKS could not be fetched: {type(exc).__name__}") from None
    if response.status_code != 200 or len(response.content) > MAX_JWKS_BYTES:
        raise JwksUnavailable(f"the JWKS URL answered {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        raise JwksUnavailable("the JWKS URL did not answer JSON") from None
    keys = body.get("keys") if isinstance(body, dict) else None
    if not isinstance(keys, list):
        raise JwksUnavailable("the JWKS URL did not answer a JWK Set")
    keys = [key for key in keys if isinstance(key, dict)]
    try:
        cache.set(_cache_key("set", url), keys, timeout=settings.CDS_JWKS_CACHE_SECONDS)
    except (RedisError, ConnectionError, TimeoutError) as exc:
        log.warning("JWKS not cached, cache unavailable: %s", type(exc).__name__)
    return keys


def _cached(url: str) -> list[dict[str, Any]] | None:
    try:
        keys = cache.get(_cache_key("set", url))
    except (RedisError, ConnectionError, TimeoutError):
        return None
    return keys if isinstance(keys, list) else None


def _refetch_allowed(url: str) -> bool:
    try:
        return bool(
            cache.add(_cache_key("refetch", url), 1, timeout=settings.CDS_JWKS_REFETCH_SECONDS)
        )
    except (RedisError, ConnectionError, TimeoutError):
        return True  # no cache to count in: each request may fetch, as without a cache


def _served_keys(url: str, kid: str) -> list[dict[str, Any]]:
    keys = _cached(url)
    if keys is None:
        return _fetch(url)
    if not any(key.get("kid") == kid for key in keys) and _refetch_allowed(url):
        keys = _fetch(url)
    return keys


def jwk_for(client: EhrClient, *, kid: str, jku: str | None) -> dict[str, Any] | None:
    """The client's JWK with this kid, or None. Raises JwksUnavailable when the JWKS
    must be fetched and cannot be, or when `jku` is not the registered URL."""
    registered = client.jwks.get("keys", []) if isinstance(client.jwks, dict) else []
    keys = [key for key in registered if isinstance(key, dict)]
    if jku is not None and (not client.jwks_url or jku != client.jwks_url):
        raise JwksUnavailable("the token's jku is not the client's registered JWKS URL")
    if client.jwks_url and not any(key.get("kid") == kid for key in keys):
        keys = _served_keys(client.jwks_url, kid)
    return next((key for key in keys if key.get("kid") == kid), None)
