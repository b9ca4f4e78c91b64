"""Real key pairs and signed tokens, made the way an EHR makes them."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from imaging_cds.roles import Role
from ordering.models import EhrClient
from tests.actors import make_user

ISSUER = "https://ehr.example.org"


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


def public_jwk(private_key: Any, kid: str, alg: str) -> dict[str, Any]:
    algorithm = jwt.get_algorithm_by_name(alg)
    jwk = json.loads(algorithm.to_jwk(private_key.public_key()))
    jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    return jwk


def register_client(private_key: Any, *, kid: str = "k1", alg: str = "RS384") -> EhrClient:
    user = make_user(f"ehr-{uuid.uuid4().hex[:6]}", Role.API_CLIENT)
    return EhrClient.objects.create(
        name="Test EHR",
        issuer=ISSUER,
        jwks={"keys": [public_jwk(private_key, kid, alg)]},
        user=user,
    )


def token(
    private_key: Any,
    *,
    aud: str,
    alg: str = "RS384",
    kid: str = "k1",
    iss: str = ISSUER,
    lifetime: int = 300,
    jti: str | None = None,
    **extra: Any,
) -> str:
    now = int(time.time())
    claims = {
        "iss": iss,
        "aud": aud,
        "iat": now,
        "exp": now + lifetime,
        "jti": jti or uuid.uuid4().hex,
        **extra,
    }
    return jwt.encode(claims, private_key, algorithm=alg, headers={"kid": kid, "typ": "JWT"})
