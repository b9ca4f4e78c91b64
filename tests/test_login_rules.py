"""Log-in rules: idle and browser-close session expiry, password rules, CSRF on
every form of the permission matrix, secure cookies when DEBUG is off."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test import Client
from django.urls import reverse

from imaging_cds.middleware import IDLE_KEY
from tests.actors import PASSWORD, Actors
from tests.permissions.matrix import LOGIN, ROWS, Redirect
from tests.permissions.world import (
    ANONYMOUS,
    API_CLIENT,
    PRESCRIBER,
    REVOKED_CLIENT,
    World,
    make_world,
)
from tests.test_settings import start_django


def test_a_session_left_idle_too_long_ends_and_asks_to_log_in_again(
    client: Client, actors: Actors, settings: object
) -> None:
    client.force_login(actors.alice)
    assert client.get("/orders/").status_code == 200
    session = client.session
    session[IDLE_KEY] = int(time.time()) - settings.SESSION_IDLE_SECONDS - 5  # type: ignore[attr-defined]
    session.save()
    response = client.get("/orders/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert "_auth_user_id" not in client.session
    # Logging in again works.
    client.force_login(actors.alice)
    assert client.get("/orders/").status_code == 200


def test_an_active_session_stays_open(client: Client, actors: Actors) -> None:
    client.force_login(actors.alice)
    for _ in range(3):
        assert client.get("/orders/").status_code == 200


def test_the_session_cookie_ends_with_the_browser(client: Client, actors: Actors) -> None:
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    cookie = response.cookies["sessionid"]
    assert not cookie["expires"] and not cookie["max-age"], "no persistent session cookie"
    assert cookie["httponly"]


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short-1", "too short"),
        ("password1234", "too common"),
        ("48213907561234", "entirely numeric"),
        ("Alexandrine1", "too similar to her name"),
    ],
)
def test_weak_passwords_are_refused(actors: Actors, password: str, why: str) -> None:
    actors.alice.first_name = "Alexandrine"
    with pytest.raises(ValidationError):
        validate_password(password, user=actors.alice)


def test_a_long_unusual_password_is_accepted(actors: Actors) -> None:
    validate_password("ruisseau-Tilleul-47-orage", user=actors.alice)


def _owner(name: str) -> str:
    row = ROWS[name]
    if row.owner:
        return row.owner
    allowed = [
        actor
        for actor, answer in row.expect.items()
        if answer not in (401, 403, 404, 405) and answer != LOGIN
    ]
    return allowed[0] if allowed else PRESCRIBER


def _session_form(name: str) -> bool:
    """CSRF guards what a browser session can post. Token (REST) and signed-JWT (CDS
    Hooks) endpoints carry no cookie, so a forged cross-site post has nothing to ride on."""
    row = ROWS[name]
    usable = any(answer not in (401, 403, 404, 405) for answer in row.expect.values())
    return usable and _owner(name) not in (API_CLIENT, REVOKED_CLIENT, ANONYMOUS)


POST_ROWS = sorted(
    name for name, row in ROWS.items() if row.method == "POST" and _session_form(name)
)


@pytest.fixture
def world(db: None, clear_cache: None) -> World:
    return make_world()


@pytest.mark.parametrize("name", POST_ROWS)
def test_every_form_posted_without_its_csrf_token_is_refused(name: str, world: World) -> None:
    row = ROWS[name]
    client = world.client(_owner(name))
    client.handler.enforce_csrf_checks = True
    url = reverse(name, kwargs=row.kwargs(world))
    with transaction.atomic():
        response = client.post(url, row.data(world))
        transaction.set_rollback(True)
    assert response.status_code == 403, f"POST {url} without a CSRF token got {response}"


def test_the_matrix_has_post_rows_to_check() -> None:
    assert len(POST_ROWS) >= 10 and isinstance(LOGIN, Redirect)


def test_cookies_are_secure_and_http_only_when_debug_is_off() -> None:
    result = start_django(
        DEBUG="false",
        SECRET_KEY="x" * 50,
        ALLOWED_HOSTS="cds.example.org",
        DATABASE_URL="sqlite:////tmp/icds-cookie-check.sqlite3",
    )
    assert result.returncode == 0, result.stderr
    check = start_django_print(
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, "
        "s.SESSION_EXPIRE_AT_BROWSER_CLOSE)"
    )
    assert check.strip().splitlines()[-1] == "True True True True"


def start_django_print(code: str) -> str:
    import os
    import subprocess
    import sys

    from tests.test_settings import ROOT

    base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DEBUG"}}
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env={
            **base,
            "DJANGO_SETTINGS_MODULE": "imaging_cds.settings",
            "DEBUG": "false",
            "SECRET_KEY": "x" * 50,
            "ALLOWED_HOSTS": "cds.example.org",
            "DATABASE_URL": "sqlite:////tmp/icds-cookie-check.sqlite3",
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout
