"""Named actors shared across tests (in the manner of healthchecks' hc/test.py):
alice and bob prescribe, erin edits guidelines, carol and dave each manage
their own centres, emr is an API client, and mallory has no role at all."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import Group, User

from imaging_cds.roles import Role

PASSWORD = "correct-horse-battery-staple"


@dataclass
class Actors:
    alice: User
    bob: User
    erin: User
    carol: User
    dave: User
    emr: User
    mallory: User


def make_user(username: str, role: Role | None) -> User:
    user = User.objects.create_user(username=username, password=PASSWORD)
    if role is not None:
        # get_or_create: transactional tests (live_server) flush the migration's groups.
        user.groups.add(Group.objects.get_or_create(name=role.value)[0])
    return user


def make_actors() -> Actors:
    return Actors(
        alice=make_user("alice", Role.PRESCRIBER),
        bob=make_user("bob", Role.PRESCRIBER),
        erin=make_user("erin", Role.GUIDELINE_EDITOR),
        carol=make_user("carol", Role.CENTRE_MANAGER),
        dave=make_user("dave", Role.CENTRE_MANAGER),
        emr=make_user("emr", Role.API_CLIENT),
        mallory=make_user("mallory", None),
    )
