from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from imaging_cds.roles import Role, has_role, role_required, user_roles
from tests.actors import Actors


@pytest.mark.django_db
def test_the_migration_creates_one_group_per_role() -> None:
    assert set(Group.objects.values_list("name", flat=True)) >= {role.value for role in Role}


def test_each_actor_holds_exactly_their_role(actors: Actors) -> None:
    assert user_roles(actors.alice) == {Role.PRESCRIBER}
    assert user_roles(actors.erin) == {Role.GUIDELINE_EDITOR}
    assert user_roles(actors.carol) == {Role.CENTRE_MANAGER}
    assert user_roles(actors.emr) == {Role.API_CLIENT}
    assert user_roles(actors.mallory) == frozenset()


def test_an_inactive_user_holds_no_role(actors: Actors) -> None:
    actors.alice.is_active = False
    assert not has_role(actors.alice, Role.PRESCRIBER)


@role_required(Role.GUIDELINE_EDITOR)
def editor_only(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def test_role_required_refuses_other_roles_and_sends_anonymous_users_to_log_in(
    actors: Actors, rf: RequestFactory
) -> None:
    from django.contrib.auth.models import AnonymousUser

    request = rf.get("/rules/")
    request.user = actors.erin
    assert editor_only(request).status_code == 200
    request.user = actors.alice
    with pytest.raises(PermissionDenied):
        editor_only(request)
    request.user = AnonymousUser()
    response = editor_only(request)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_home_page_needs_a_login(client: object, actors: Actors) -> None:
    from django.test import Client

    assert isinstance(client, Client)
    assert client.get("/").status_code == 302
    client.force_login(actors.alice)
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="fr")
    assert response.status_code == 200
    assert "Prescrire un examen d’imagerie" in response.content.decode()
