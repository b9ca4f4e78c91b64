"""Schemathesis against the served OpenAPI schema, in process (WSGI), authenticated as
an api_client. Bounded: a few examples per operation, no shrinking, no example
database. Checked: no 5xx, every status code documented, every body and content type
as documented. Operations that need prior state (an order for an existing
consultation) answer documented 4xx with random ids; that is expected."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from imaging_cds.wsgi import application
from tests.actors import Actors
from tests.world import FlowPacs

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def in_test_transaction() -> Iterator[None]:
    # Called as a bare WSGI app, Django closes the database connection when a request
    # ends, and the test's transaction with it; Django's test Client does the same.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_world(world: FlowPacs, settings: Any, in_test_transaction: None) -> FlowPacs:
    # The world (demo data, Orthanc, Redis) lets evaluate run its whole decision.
    settings.ALLOWED_HOSTS = ["*"]
    return world


@pytest.fixture
def emr_token(actors: Actors) -> str:
    return Token.objects.create(user=actors.emr).key


# Loaded when the module is collected, from the app itself: the schema view reads no
# database. (schemathesis.pytest.from_fixture does not run under pytest 9.)
schema = schemathesis.openapi.from_wsgi("/api/v1/schema", application)
schema.config.generation.update(no_shrink=True, with_security_parameters=False)


@schema.parametrize()
@settings(
    max_examples=15,
    phases=[Phase.explicit, Phase.generate],
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_its_schema_says(
    case: Any, api_world: FlowPacs, emr_token: str
) -> None:
    case.call_and_validate(headers={"Authorization": f"Token {emr_token}"}, checks=CHECKS)
