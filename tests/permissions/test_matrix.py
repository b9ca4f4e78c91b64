"""The permission matrix (matrix.py) against the real URL configuration."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from django.http import HttpResponse
from django.urls import reverse

from tests.permissions.matrix import ROWS, Answer, Redirect, Row, row_for
from tests.permissions.walk import url_patterns
from tests.permissions.world import ACTORS, World, make_world


@pytest.fixture
def world(db: None, clear_cache: None) -> World:
    return make_world()


def test_every_url_pattern_has_a_row_in_the_permission_matrix() -> None:
    missing = [str(p) for p in url_patterns() if row_for(p.name, p.route) is None]
    assert not missing, (
        "URL patterns with no row in tests/permissions/matrix.py ROWS (add one per URL "
        "name saying what each actor gets):\n  " + "\n  ".join(missing)
    )


def test_every_row_of_the_matrix_names_a_url_that_exists() -> None:
    covered = {found[0] for p in url_patterns() if (found := row_for(p.name, p.route))}
    stale = sorted(set(ROWS) - covered)
    assert not stale, f"rows for URLs that no longer exist: {stale}"


def test_every_row_says_what_every_actor_gets() -> None:
    incomplete = {name: sorted(set(ACTORS) - set(row.expect)) for name, row in ROWS.items()}
    assert not any(incomplete.values()), {k: v for k, v in incomplete.items() if v}


def url_of(name: str, row: Row, world: World) -> str:
    if name.startswith("prefix:"):
        return "/" + name.removeprefix("prefix:")
    return reverse(name, kwargs=row.kwargs(world))


def request_as(actor: str, name: str, row: Row, world: World) -> Any:
    client = world.client(actor)
    url = url_of(name, row, world)
    # Each actor acts on the same objects: undo whatever the previous one changed.
    with transaction.atomic():
        if row.method == "POST" and row.content_type:
            response = client.post(url, row.data(world), content_type=row.content_type)
        elif row.method == "POST":
            response = client.post(url, row.data(world))
        else:
            response = client.get(url, row.data(world))
        transaction.set_rollback(True)
    return response


def matches(response: HttpResponse, expected: Answer) -> bool:
    if isinstance(expected, Redirect):
        return response.status_code == 302 and response["Location"].startswith(expected.to)
    return response.status_code == expected


def describe(response: HttpResponse) -> str:
    if response.status_code in (301, 302):
        return f"{response.status_code} → {response['Location']}"
    return str(response.status_code)


@pytest.mark.parametrize("name", sorted(ROWS))
def test_each_actor_gets_the_answer_the_matrix_says(name: str, world: World) -> None:
    row = ROWS[name]
    wrong = []
    for actor in ACTORS:
        response = request_as(actor, name, row, world)
        expected = row.expect[actor]
        if not matches(response, expected):
            wrong.append(f"{actor}: expected {expected}, got {describe(response)}")
    assert not wrong, f"{row.method} {url_of(name, row, world)}:\n  " + "\n  ".join(wrong)
