"""Onboarding an EHR without a Django shell: `ehr_client_register`, `api_token_create`
and the admin, with real keys and the real database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import jwt
import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import translation

from imaging_cds.roles import Role, has_role
from ordering.admin import EhrClientForm
from ordering.cds.auth import jwt_verify
from ordering.models import EhrClient, EhrPractitioner
from tests.actors import Actors
from tests.cds.jwt_keys import ec_key, public_jwk, rsa_key, token

ISSUER = "https://ehr.hopital.example"


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    # Commands and forms speak LANGUAGE_CODE (French); these tests read the English ids.
    with translation.override("en"):
        yield


def register(*args: str) -> str:
    out = StringIO()
    call_command("ehr_client_register", *args, stdout=out)
    return out.getvalue()


def token_create(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("api_token_create", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def jwks_of(*keys: Any, alg: str = "RS384") -> dict[str, Any]:
    return {"keys": [public_jwk(key, f"k{i}", alg) for i, key in enumerate(keys)]}


def private_jwks(key: Any) -> dict[str, Any]:
    jwk = json.loads(jwt.get_algorithm_by_name("RS384").to_jwk(key))
    return {"keys": [{**jwk, "kid": "k0"}]}


def test_it_registers_a_client_whose_jwts_are_then_accepted(db: None, tmp_path: Path) -> None:
    key = rsa_key()
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(jwks_of(key)))
    printed = register("--name", "Hôpital EHR", "--issuer", ISSUER, "--jwks-file", str(jwks_file))
    assert ISSUER in printed and "k0" in printed and "ehr-hopital-ehr" in printed
    client = EhrClient.objects.get(issuer=ISSUER)
    assert client.active and client.name == "Hôpital EHR"
    assert has_role(client.user, Role.API_CLIENT)
    assert not client.user.has_usable_password()
    audience = "http://testserver/cds-services/imaging-order-select"
    verified = jwt_verify(token(key, aud=audience, kid="k0", iss=ISSUER), audience=audience)
    assert verified.client == client


@pytest.mark.parametrize(
    ("jwks", "says"),
    [
        ("not json", "not valid JSON"),
        ('["a list"]', '"keys" list'),
        ('{"keys": []}', "no key"),
        ('{"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}', "no kid"),
        ('{"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "s"}]}', "private or secret"),
        ('{"keys": [{"kty": "RSA", "kid": "a", "n": "abc", "e": "AQAB"}]}', "cannot be used"),
    ],
)
def test_it_refuses_a_bad_jwks_with_a_clear_message(db: None, jwks: str, says: str) -> None:
    with pytest.raises(CommandError, match=says):
        register("--name", "EHR", "--issuer", ISSUER, "--jwks-json", jwks)
    assert not EhrClient.objects.exists() and not User.objects.filter(username="ehr-ehr").exists()


def test_it_refuses_a_private_key(db: None) -> None:
    with pytest.raises(CommandError, match=r"private or secret members \(d, dp, dq, p, q, qi\)"):
        register(
            "--name", "EHR", "--issuer", ISSUER, "--jwks-json", json.dumps(private_jwks(rsa_key()))
        )


def test_it_refuses_a_missing_jwks_file(db: None, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="Cannot read the JWKS file"):
        register("--name", "EHR", "--issuer", ISSUER, "--jwks-file", str(tmp_path / "none.json"))


def test_it_refuses_an_issuer_already_registered_unless_told_to_update(db: None) -> None:
    first, second = rsa_key(), ec_key()
    register("--name", "EHR", "--issuer", ISSUER, "--jwks-json", json.dumps(jwks_of(first)))
    again = ("--name", "EHR 2", "--issuer", ISSUER)
    with pytest.raises(CommandError, match="--update"):
        register(*again, "--jwks-json", json.dumps(jwks_of(second, alg="ES384")))
    printed = register(*again, "--jwks-json", json.dumps(jwks_of(second, alg="ES384")), "--update")
    assert printed.startswith("Updated")
    client = EhrClient.objects.get(issuer=ISSUER)
    assert client.name == "EHR 2" and client.jwks["keys"][0]["kty"] == "EC"
    assert EhrClient.objects.count() == 1


def test_it_refuses_to_make_a_persons_account_an_api_client(actors: Actors) -> None:
    jwks = json.dumps(jwks_of(rsa_key()))
    with pytest.raises(CommandError, match="already exists"):
        register("--name", "EHR", "--issuer", ISSUER, "--jwks-json", jwks, "--username", "alice")
    with pytest.raises(CommandError, match="person's account"):
        register(
            "--name", "EHR", "--issuer", ISSUER, "--jwks-json", jwks, "--username", "alice",
            "--update",
        )  # fmt: skip
    assert not has_role(User.objects.get(username="alice"), Role.API_CLIENT)


def test_a_token_is_printed_once_and_opens_the_rest_api(actors: Actors, client: Client) -> None:
    out, err = token_create("emr")
    key = out.strip()
    assert len(key) == 40 and key not in err
    response = client.get("/api/v1/procedures", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 200


def test_a_second_token_needs_rotate_which_revokes_the_first(
    actors: Actors, client: Client
) -> None:
    old = token_create("emr")[0].strip()
    with pytest.raises(CommandError, match="--rotate"):
        token_create("emr")
    new = token_create("emr", "--rotate")[0].strip()
    assert new != old
    assert client.get("/api/v1/procedures", HTTP_AUTHORIZATION=f"Token {old}").status_code == 401
    assert client.get("/api/v1/procedures", HTTP_AUTHORIZATION=f"Token {new}").status_code == 200


def test_no_token_for_an_account_without_the_api_client_role(actors: Actors) -> None:
    with pytest.raises(CommandError, match="api_client"):
        token_create("alice")
    with pytest.raises(CommandError, match="No account"):
        token_create("nobody")


def test_the_admin_form_checks_the_jwks_as_the_command_does(actors: Actors) -> None:
    data = {"name": "EHR", "issuer": ISSUER, "user": actors.emr.pk, "active": True}
    refused = EhrClientForm({**data, "jwks": json.dumps(private_jwks(rsa_key()))})
    assert not refused.is_valid()
    assert "private or secret" in str(refused.errors["jwks"])
    not_a_client = EhrClientForm({**data, "user": actors.alice.pk, "jwks": "{}"})
    assert not not_a_client.is_valid() and {"jwks", "user"} <= set(not_a_client.errors)
    accepted = EhrClientForm({**data, "jwks": json.dumps(jwks_of(rsa_key()))})
    assert accepted.is_valid(), accepted.errors
    assert accepted.save().jwks["keys"][0]["kid"] == "k0"


def test_staff_manage_ehr_clients_and_tokens_in_the_admin(db: None, client: Client) -> None:
    admin = User.objects.create_superuser("root", password="correct-horse-battery-staple")
    client.force_login(admin)
    for url in (
        "/admin/ordering/ehrclient/",
        "/admin/ordering/ehrclient/add/",
        "/admin/authtoken/tokenproxy/",
    ):
        assert client.get(url).status_code == 200, url


def test_it_registers_the_fhir_servers_and_the_jwks_url_the_outbound_policy_allows(
    db: None,
) -> None:
    key = rsa_key()
    jwks = json.dumps({"keys": [public_jwk(key, kid="k1", alg="RS384")]})
    register(
        "--name", "DPI", "--issuer", ISSUER, "--jwks-json", jwks,
        "--fhir-server", "https://fhir.hopital.example/r4",
        "--fhir-server", "https://fhir2.hopital.example/r4",
        "--jwks-url", "https://ehr.hopital.example/jwks.json",
    )  # fmt: skip
    client = EhrClient.objects.get(issuer=ISSUER)
    assert client.fhir_servers == [
        "https://fhir.hopital.example/r4",
        "https://fhir2.hopital.example/r4",
    ]
    assert client.jwks_url == "https://ehr.hopital.example/jwks.json"
    with pytest.raises(CommandError, match="cannot be registered"):
        register(
            "--name", "DPI", "--issuer", ISSUER, "--jwks-json", jwks, "--update",
            "--fhir-server", "https://user:secret@fhir.hopital.example/r4",
        )  # fmt: skip
    assert EhrClient.objects.get(issuer=ISSUER).fhir_servers[0].startswith("https://fhir.")


def test_it_maps_an_ehr_practitioner_to_a_prescriber_and_refuses_other_accounts(
    db: None, actors: Actors
) -> None:
    key = rsa_key()
    register("--name", "DPI", "--issuer", ISSUER, "--jwks-json",
             json.dumps({"keys": [public_jwk(key, kid="k1", alg="RS384")]}))  # fmt: skip
    out = StringIO()
    call_command(
        "ehr_practitioner_map", "--issuer", ISSUER, "--ehr-user-id", "Practitioner/123",
        "--username", actors.alice.username, stdout=out,
    )  # fmt: skip
    assert "Practitioner/123" in out.getvalue()
    mapping = EhrPractitioner.objects.get(ehr_user_id="Practitioner/123")
    assert mapping.user == actors.alice and mapping.client.issuer == ISSUER
    with pytest.raises(CommandError, match="not a prescriber"):
        call_command(
            "ehr_practitioner_map", "--issuer", ISSUER, "--ehr-user-id", "Practitioner/9",
            "--username", actors.emr.username,
        )  # fmt: skip
    with pytest.raises(CommandError, match="No EHR client"):
        call_command(
            "ehr_practitioner_map", "--issuer", "https://nobody.example",
            "--ehr-user-id", "Practitioner/9", "--username", actors.alice.username,
        )  # fmt: skip
