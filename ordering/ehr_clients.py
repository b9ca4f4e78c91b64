"""Writes that onboard an EHR: its EhrClient with the api_client account it acts as,
and the REST API token of an api_client account. `manage.py ehr_client_register`,
`manage.py api_token_create` and the admin call these."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from rest_framework.authtoken.models import Token

from imaging_cds.outbound import OutboundRefused, allow_list_entry_check
from imaging_cds.roles import Role, has_role, user_roles
from ordering.jwks import jwks_validate
from ordering.models import EhrClient, EhrPractitioner


@dataclass(frozen=True)
class Registration:
    client: EhrClient
    created: bool
    user_created: bool


def _api_client_account(username: str, *, update: bool) -> tuple[User, bool]:
    user = User.objects.filter(username=username).first()
    if user is None:
        user = User(username=username)
        # The account never logs in with a password: it acts through a JWT or a token.
        user.set_unusable_password()
        user.full_clean()
        user.save()
        user.groups.add(Group.objects.get_or_create(name=Role.API_CLIENT.value)[0])
        return user, True
    if not update:
        raise ValidationError(
            _("The account %(username)s already exists: pass --update to reuse it."),
            params={"username": username},
        )
    other_roles = user_roles(user) - {Role.API_CLIENT}
    if user.is_staff or user.is_superuser or other_roles:
        raise ValidationError(
            _("The account %(username)s is a person's account, not an api_client account."),
            params={"username": username},
        )
    user.groups.add(Group.objects.get_or_create(name=Role.API_CLIENT.value)[0])
    return user, False


def allow_list_validate(urls: list[str]) -> list[str]:
    """URLs an allow-list may hold (imaging_cds.outbound): https outside DEBUG, no
    credentials. Where they point is checked at each fetch."""
    problems = []
    for url in urls:
        try:
            allow_list_entry_check(url)
        except OutboundRefused as exc:
            problems.append(
                _("%(url)s cannot be registered: %(reason)s.") % {"url": url, "reason": exc}
            )
    if problems:
        raise ValidationError(problems)
    return list(urls)


@transaction.atomic
def ehr_client_register(
    *,
    name: str,
    issuer: str,
    jwks: object,
    username: str,
    update: bool = False,
    fhir_servers: list[str] | None = None,
    jwks_url: str | None = None,
) -> Registration:
    """Create the EhrClient and its api_client account; with `update`, replace the
    name, keys and account of the client already registered under `issuer`.
    ``fhir_servers`` are the FHIR base URLs its hooks may name as fhirServer;
    ``jwks_url`` is where its current public keys are served (rotation)."""
    jwks = jwks_validate(jwks)
    servers = allow_list_validate(fhir_servers) if fhir_servers is not None else None
    if jwks_url:
        allow_list_validate([jwks_url])
    client = EhrClient.objects.select_for_update().filter(issuer=issuer).first()
    if client is not None and not update:
        raise ValidationError(
            _("An EHR client with the issuer %(issuer)s exists: pass --update to change it."),
            params={"issuer": issuer},
        )
    user, user_created = _api_client_account(username, update=update)
    created = client is None
    if client is None:
        client = EhrClient(issuer=issuer)
    client.name = name
    client.jwks = jwks
    client.user = user
    client.active = True
    if servers is not None:
        client.fhir_servers = servers
    if jwks_url is not None:
        client.jwks_url = jwks_url
    client.full_clean()
    client.save()
    return Registration(client=client, created=created, user_created=user_created)


@transaction.atomic
def ehr_practitioner_map(*, issuer: str, ehr_user_id: str, username: str) -> EhrPractitioner:
    """Say which local prescriber account an EHR's ``userId`` is: the card links of
    that practitioner's hooks then open for this account only."""
    client = EhrClient.objects.filter(issuer=issuer).first()
    if client is None:
        raise ValidationError(
            _("No EHR client has the issuer %(issuer)s."), params={"issuer": issuer}
        )
    user = User.objects.filter(username=username).first()
    if user is None or not has_role(user, Role.PRESCRIBER):
        raise ValidationError(
            _("%(username)s is not a prescriber's account."), params={"username": username}
        )
    mapping, _created = EhrPractitioner.objects.update_or_create(
        client=client, ehr_user_id=ehr_user_id.strip(), defaults={"user": user}
    )
    mapping.full_clean()
    return mapping


@transaction.atomic
def api_token_create(*, user: User, rotate: bool = False) -> str:
    """The new REST API token of an api_client account; `rotate` replaces an old one."""
    if not user.is_active or Role.API_CLIENT not in user_roles(user):
        raise ValidationError(
            _("%(username)s does not hold the api_client role."),
            params={"username": user.username},
        )
    existing = Token.objects.select_for_update().filter(user=user)
    if existing.exists():
        if not rotate:
            raise ValidationError(
                _("%(username)s already has a token: pass --rotate to replace it."),
                params={"username": user.username},
            )
        existing.delete()
    return str(Token.objects.create(user=user).key)
