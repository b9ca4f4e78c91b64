"""The one check of an EHR's JWKS, shared by `manage.py ehr_client_register` and the
admin's EhrClient form: a JSON object whose `keys` are public keys PyJWT can verify
with, each named by a distinct `kid` (the CDS Hooks JWT header names its key)."""

from __future__ import annotations

import json
from typing import Any

import jwt
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from ordering.cds.auth import ALLOWED_ALGORITHMS

# JWK members that only a private (or symmetric) key has (RFC 7518 section 6).
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def jwks_parse(text: str) -> dict[str, Any]:
    """Read a JWKS from JSON text, then validate it."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            _("The JWKS is not valid JSON: %(error)s."), params={"error": exc.msg}
        ) from None
    return jwks_validate(value)


def jwks_validate(value: object) -> dict[str, Any]:
    """Return the JWKS unchanged when every key is a usable public key, else raise."""
    if not isinstance(value, dict) or not isinstance(value.get("keys"), list):
        raise ValidationError(_('The JWKS must be a JSON object with a "keys" list.'))
    keys: list[object] = value["keys"]
    if not keys:
        raise ValidationError(_("The JWKS has no key."))
    seen: set[str] = set()
    for index, key in enumerate(keys):
        kid = _key_check(index, key)
        if kid in seen:
            raise ValidationError(
                _("Two keys of the JWKS have the kid %(kid)s."), params={"kid": kid}
            )
        seen.add(kid)
    return value


def _key_check(index: int, key: object) -> str:
    where = {"index": index}
    if not isinstance(key, dict):
        raise ValidationError(_("Key %(index)s of the JWKS is not a JSON object."), params=where)
    private = sorted(PRIVATE_MEMBERS & set(key))
    if private:
        raise ValidationError(
            _(
                "Key %(index)s of the JWKS holds private or secret members (%(members)s): "
                "register the public key only."
            ),
            params={**where, "members": ", ".join(private)},
        )
    kid = key.get("kid")
    if not isinstance(kid, str) or not kid:
        raise ValidationError(_("Key %(index)s of the JWKS has no kid."), params=where)
    alg = key.get("alg")
    if alg is not None and alg not in ALLOWED_ALGORITHMS:
        raise ValidationError(
            _("Key %(index)s of the JWKS is for %(alg)s; accepted: %(accepted)s."),
            params={**where, "alg": alg, "accepted": ", ".join(ALLOWED_ALGORITHMS)},
        )
    try:
        jwt.PyJWK(key)
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as exc:
        raise ValidationError(
            _("Key %(index)s of the JWKS cannot be used: %(error)s."),
            params={**where, "error": str(exc)},
        ) from None
    return kid
