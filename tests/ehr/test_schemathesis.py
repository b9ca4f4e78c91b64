"""Schemathesis against the served OpenAPI schema, in process (WSGI), authenticated as
an api_client. Bounded: a few examples per operation, no shrinking, no example
database. Checked: no 5xx, every status code documented, every body and content type
as documented.

The ids it generates would all be unknown (404), so every well-formed id is replaced
by one of an object the client made through the API: the run then reaches the
answers of existing objects, and each operation that has one must have answered a
2xx at least once."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from io import StringIO
from typing import Any

import pytest
import schemathesis
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, settings
from pytest_django import DjangoDbBlocker
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from imaging_cds.roles import Role
from imaging_cds.wsgi import application
from tests.actors import make_user
from tests.patients import TEST_INS
from tests.world import FlowPacs

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

# Loaded when the module is collected, from the app itself: the schema view reads no
# database. (schemathesis.pytest.from_fixture does not run under pytest 9.)
schema = schemathesis.openapi.from_wsgi("/api/v1/schema", application)
schema.config.generation.update(no_shrink=True, with_security_parameters=False)


# Each of these answers 2xx to some request the schema allows on existing objects; a
# run that never got one tested only the error paths. Not required: holds_create and
# orders_create (they need a slot and a procedure that the consultation offers, which
# random bodies never are) and evaluate (a random patient is now and then plausible
# enough, not reliably); test_rest_api covers their success.
MUST_SUCCEED = {
    "ping",
    "procedures_list",
    "indications_search",
    "consultations_read",
    "feedback_create",
    "slots_search",
    "orders_read",
    "orders_cancel",
}

# A patient that any patient check should accept: an INS whose key is right and whose
# sex (1, a man) and birth year and month (85 07) agree with the other fields, living
# in the served territory.
PATIENT = {
    "identifier": TEST_INS,
    "identifier_kind": "ins",
    "birth_date": "1985-07-14",
    "sex": "M",
    "postcode": "35000",
    "pregnancy": "no",
}
INDICATION = "pneumonia-suspected-adult"


@pytest.fixture
def in_test_transaction() -> Iterator[None]:
    # Called as a bare WSGI app, Django closes the database connection when a request
    # ends, and the test's transaction with it; Django's test Client does the same.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(scope="module")
def demo_data(django_db_setup: None, django_db_blocker: DjangoDbBlocker) -> Iterator[None]:
    """The demo territory and rule pack, loaded once for the module (loading them is
    most of a test's time here) in a transaction rolled back at the end; each test's
    own transaction nests in it."""
    with django_db_blocker.unblock(), transaction.atomic():
        call_command("demo_load", "--force", "--quiet-accounts", "--days", "3", stdout=StringIO())
        yield
        transaction.set_rollback(True)


@pytest.fixture
def api_world(
    demo_data: None,
    db: None,
    flow_pacs: FlowPacs,
    clear_cache: None,
    settings: Any,
    in_test_transaction: None,
) -> FlowPacs:
    # The world of tests/world.py (demo data, Orthanc, Redis) lets evaluate run its
    # whole decision.
    settings.ALLOWED_HOSTS = ["*"]
    settings.PACS_NODES = [flow_pacs.node()]
    return flow_pacs


@pytest.fixture
def emr_token(db: None) -> str:
    # Only the API client: the other actors would cost a password hash each, per test.
    return Token.objects.create(user=make_user("emr", Role.API_CLIENT)).key


@dataclass
class Owned:
    """Objects the API client made through the API, each made when an operation first
    needs it (most operations need none)."""

    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}"}

    def _create(self, operation_id: str, body: dict[str, Any]) -> dict[str, Any]:
        # Through schemathesis too: the same bare WSGI calls (Django's test Client would
        # reconnect close_old_connections) and the same checks on the answer.
        case = schema.find_operation_by_id(operation_id).Case(
            body=body, media_type="application/json"
        )
        response = case.call_and_validate(headers=self.auth, checks=CHECKS)
        assert response.status_code == 201, (operation_id, response.text)
        answer: dict[str, Any] = response.json()
        return answer

    @cached_property
    def consultation(self) -> dict[str, Any]:
        return self._create("evaluate", {"patient": PATIENT, "indication_code": INDICATION})

    @cached_property
    def order(self) -> dict[str, Any]:
        option = next((o for o in self.consultation["options"] if o["slot_id"]), None)
        assert option is not None, "the consultation offers no slot to order"
        choice = {
            "consultation": self.consultation["consultation_id"],
            "slot_id": option["slot_id"],
            "procedure_code": option["procedure_code"],
        }
        self._create("holds_create", choice)
        return self._create(
            "orders_create",
            {
                **choice,
                "patient_identifier": PATIENT["identifier"],
                "patient_identifier_kind": PATIENT["identifier_kind"],
                "patient_birth_date": PATIENT["birth_date"],
                "patient_sex": PATIENT["sex"],
                "patient_birth_name": "ESSAI",
                "patient_given_names": "Camille",
            },
        )

    def consultation_id(self, generated: object) -> object:
        return _existing(generated, lambda: self.consultation["consultation_id"])

    def order_id(self, generated: object) -> object:
        return _existing(generated, lambda: self.order["order_id"])


def _existing(generated: object, real: Callable[[], str]) -> object:
    """A well-formed id becomes the existing object's; a malformed one belongs to a
    negative case and stays as generated."""
    try:
        uuid.UUID(str(generated))
    except ValueError:
        return generated
    return real()


@pytest.fixture
def owned(api_world: FlowPacs, emr_token: str) -> Owned:
    return Owned(token=emr_token)


def _on_owned_objects(case: Any, owned: Owned) -> None:
    if "consultation_id" in case.path_parameters:
        case.path_parameters["consultation_id"] = owned.consultation_id(
            case.path_parameters["consultation_id"]
        )
    if "order_id" in case.path_parameters:
        case.path_parameters["order_id"] = owned.order_id(case.path_parameters["order_id"])
    if "consultation" in case.query:
        case.query["consultation"] = owned.consultation_id(case.query["consultation"])
    if isinstance(case.body, dict) and "consultation" in case.body:
        case.body["consultation"] = owned.consultation_id(case.body["consultation"])


@dataclass
class Reached:
    """What one operation answered over the whole run, by method: the coverage phase
    also sends the methods the path does not have (405) and OPTIONS (200 for any
    path), which say nothing about the operation itself."""

    operation_id: str
    method: str
    answers: Counter[str] = field(default_factory=Counter)

    def record(self, case: Any, status: int) -> None:
        self.answers[f"{case.method.upper()} {status}"] += 1

    def succeeded(self) -> bool:
        return any(f"{self.method} {status}" in self.answers for status in range(200, 300))


@pytest.fixture
def reached(request: pytest.FixtureRequest) -> Iterator[Reached]:
    # Hypothesis calls the test once per case: only after the last one can the run be
    # judged on what it reached, hence here rather than in the test.
    label = request.node.name.partition("[")[2].removesuffix("]")
    operation = schema.find_operation_by_label(label)
    assert operation is not None, label
    run = Reached(
        operation_id=operation.definition.raw["operationId"], method=operation.method.upper()
    )
    yield run
    answers = dict(sorted(run.answers.items()))
    request.node.user_properties.append((run.operation_id, answers))
    if run.operation_id in MUST_SUCCEED:
        assert run.succeeded(), (
            f"{run.operation_id} never answered {run.method} with a 2xx: {answers}"
        )


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
    case: Any, owned: Owned, reached: Reached
) -> None:
    _on_owned_objects(case, owned)
    response = case.call_and_validate(headers=owned.auth, checks=CHECKS)
    reached.record(case, response.status_code)
