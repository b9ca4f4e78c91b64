"""Client authentication as CDS Hooks 2.0 requires: the EHR signs a short-lived JWT
with its private key; we verify it against the keys it registered (JWKS), and
check the header (typ JWT, kid, jku only if registered: ordering.cds.jwks), iss
(allow-list), aud (the exact service URL), exp, iat and jti (no replay).
Only asymmetric algorithms are accepted: never `none`, never HMAC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from ordering.cds.jwks import JwksUnavailable, jwk_for
from ordering.models import EhrClient, UsedJwtId

ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384")
# Tokens are meant to live minutes at most; a small leeway absorbs clock skew.
LEEWAY_SECONDS = 30
MAX_LIFETIME_SECONDS = 3600


class JwtRefused(exceptions.AuthenticationFailed):
    pass


@dataclass(frozen=True)
class VerifiedClient:
    client: EhrClient
    claims: dict[str, Any]


def _key_for(client: EhrClient, header: dict[str, Any], alg: str) -> Any:
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise JwtRefused("the token's header has no kid")
    jku = header.get("jku")
    if jku is not None and not isinstance(jku, str):
        raise JwtRefused("the token's jku is not a URL")
    try:
        jwk = jwk_for(client, kid=kid, jku=jku)
    except JwksUnavailable as exc:
        raise JwtRefused(str(exc)) from None
    if jwk is None:
        raise JwtRefused("no key of the client's JWKS matches the token's kid")
    try:
        return jwt.PyJWK(jwk, algorithm=alg).key
    except (jwt.PyJWKError, jwt.InvalidKeyError) as exc:
        raise JwtRefused(f"the registered key cannot be used: {exc}") from None


def jwt_verify(token: str, *, audience: str) -> VerifiedClient:
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise JwtRefused("the token is not a well-formed JWT") from None
    # CDS Hooks: typ is fixed to JWT; an access token (at+jwt) or anything else is not
    # a client assertion and must not be accepted in its place.
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.upper() != "JWT":
        raise JwtRefused("the token's typ is not JWT")
    alg = header.get("alg")
    if alg not in ALLOWED_ALGORITHMS:
        raise JwtRefused(f"algorithm {alg!r} is not accepted")
    issuer = unverified.get("iss")
    client = EhrClient.objects.filter(issuer=issuer, active=True).select_related("user").first()
    if client is None or not isinstance(issuer, str):
        raise JwtRefused("unknown issuer")
    key = _key_for(client, header, alg)
    try:
        claims = jwt.decode(
            token,
            key=key,
            algorithms=[alg],
            audience=audience,
            issuer=issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["iss", "aud", "exp", "iat", "jti"]},
        )
    except jwt.ExpiredSignatureError:
        raise JwtRefused("the token has expired") from None
    except jwt.InvalidAudienceError:
        raise JwtRefused("the token's audience is not this service") from None
    except jwt.PyJWTError as exc:
        raise JwtRefused(f"the token is refused: {exc}") from None
    expires_at = datetime.fromtimestamp(int(claims["exp"]), tz=UTC)
    if expires_at - timezone.now() > timedelta(seconds=MAX_LIFETIME_SECONDS):
        raise JwtRefused("the token lives too long")
    _remember_jti(issuer, str(claims["jti"]), expires_at)
    return VerifiedClient(client=client, claims=claims)


def used_jwt_ids_purge(*, now: datetime | None = None) -> int:
    """Forget the jti of tokens that can no longer be presented: past their expiry and
    the leeway jwt_verify grants. Run by Celery beat (ordering.tasks). Why a purge of
    the table rather than Redis SET NX EX: the unique constraint keeps replay refusal
    exact whatever happens to Redis (a restarted Redis without persistence would
    forget live jtis and let a stolen token be replayed), and the rows live minutes
    at most, so the table stays as small as the tokens in flight."""
    cutoff = (now or timezone.now()) - timedelta(seconds=LEEWAY_SECONDS)
    deleted, _ = UsedJwtId.objects.filter(expires_at__lt=cutoff).delete()
    return deleted


def _remember_jti(issuer: str, jti: str, expires_at: datetime) -> None:
    # The unique constraint makes replay detection safe across processes.
    try:
        with transaction.atomic():
            UsedJwtId.objects.create(issuer=issuer, jti=jti, expires_at=expires_at)
    except IntegrityError:
        raise JwtRefused("this token was already used (jti replay)") from None


class CdsHooksJwtAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, VerifiedClient] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise exceptions.NotAuthenticated("a Bearer JWT is required")
        # aud must be the exact URL called, without query string.
        audience = request.build_absolute_uri(request.path)
        verified = jwt_verify(token.strip(), audience=audience)
        return verified.client.user, verified

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="cds-hooks"'
