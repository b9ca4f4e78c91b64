from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from ordering.cds.auth import JwtRefused, jwt_verify
from tests.cds.jwt_keys import ISSUER, ec_key, register_client, rsa_key, token

AUD = "http://testserver/cds-services/imaging-order-select"


@pytest.fixture
def key(db: None) -> Any:
    private = rsa_key()
    register_client(private)
    return private


def test_it_accepts_a_well_formed_token_signed_with_a_registered_key(key: Any) -> None:
    verified = jwt_verify(token(key, aud=AUD), audience=AUD)
    assert verified.client.issuer == ISSUER
    assert verified.claims["aud"] == AUD


def test_it_accepts_elliptic_curve_keys_too(db: None) -> None:
    private = ec_key()
    register_client(private, alg="ES384", kid="ec")
    assert jwt_verify(token(private, aud=AUD, alg="ES384", kid="ec"), audience=AUD)


def test_it_rejects_an_expired_jwt(key: Any) -> None:
    with pytest.raises(JwtRefused, match="expired"):
        jwt_verify(token(key, aud=AUD, lifetime=-120), audience=AUD)


def test_it_rejects_a_token_for_another_audience(key: Any) -> None:
    with pytest.raises(JwtRefused, match="audience"):
        jwt_verify(token(key, aud="http://other/cds-services/x"), audience=AUD)


def test_it_rejects_an_unknown_issuer(key: Any) -> None:
    with pytest.raises(JwtRefused, match="unknown issuer"):
        jwt_verify(token(key, aud=AUD, iss="https://intruder.example"), audience=AUD)


def test_it_rejects_a_replayed_jti(key: Any) -> None:
    signed = token(key, aud=AUD, jti="once")
    jwt_verify(signed, audience=AUD)
    with pytest.raises(JwtRefused, match="replay"):
        jwt_verify(signed, audience=AUD)


def test_it_rejects_alg_none(key: Any) -> None:
    def b64(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    unsigned = (
        b64({"alg": "none", "typ": "JWT"})
        + "."
        + b64({"iss": ISSUER, "aud": AUD, "exp": 9999999999, "iat": 1, "jti": "x"})
        + "."
    )
    with pytest.raises(JwtRefused, match="'none' is not accepted"):
        jwt_verify(unsigned, audience=AUD)


def test_it_rejects_hmac_even_with_the_public_key_as_secret(key: Any) -> None:
    import jwt as pyjwt

    forged = pyjwt.encode(
        {"iss": ISSUER, "aud": AUD, "exp": 9999999999, "iat": 1, "jti": "y"},
        "a-shared-secret-that-is-long-enough-for-hs256",
        algorithm="HS256",
    )
    with pytest.raises(JwtRefused, match="'HS256' is not accepted"):
        jwt_verify(forged, audience=AUD)


def test_it_rejects_a_token_signed_by_a_key_the_client_did_not_register(key: Any) -> None:
    with pytest.raises(JwtRefused, match="refused"):
        jwt_verify(token(rsa_key(), aud=AUD), audience=AUD)


def test_it_rejects_a_token_missing_a_required_claim(key: Any) -> None:
    import jwt as pyjwt

    signed = pyjwt.encode(
        {"iss": ISSUER, "aud": AUD, "exp": 9999999999, "iat": 1},
        key,
        algorithm="RS384",
        headers={"kid": "k1"},
    )
    with pytest.raises(JwtRefused, match="jti"):
        jwt_verify(signed, audience=AUD)
