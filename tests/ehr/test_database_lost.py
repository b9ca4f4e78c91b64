"""When PostgreSQL ends the app's connection mid-request, the request answers 503 with
Retry-After, in the shape its caller reads, and the next request reconnects. The real
PostgreSQL ends the real backend: pg_terminate_backend from a second connection."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg2  # type: ignore[import-untyped]
import pytest
from django.db import connection
from django.test import Client, RequestFactory

from imaging_cds.wsgi import application
from tests.actors import Actors
from tests.ehr.conftest import Ehr

pytestmark = pytest.mark.django_db(transaction=True)

CDS_SERVICE = "/cds-services/imaging-order-select"


def terminate_django_connection() -> None:
    """End the backend serving Django's connection, as a PostgreSQL restart would."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    given = connection.settings_dict
    other = psycopg2.connect(
        dbname=given["NAME"],
        user=given["USER"],
        password=given["PASSWORD"],
        host=given["HOST"],
        port=given["PORT"],
    )
    other.autocommit = True
    with other.cursor() as cursor:
        # The timeout makes the call wait until the backend has actually gone.
        cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])
        assert cursor.fetchone()[0] is True
    other.close()


def wsgi_get(path: str, **headers: Any) -> tuple[int, dict[str, str], bytes]:
    """A request served the way gunicorn serves it: Django's WSGI handler sends
    request_started and request_finished, where it drops a broken connection. (The
    test Client leaves those checks out: it would close the test's transaction.)"""
    environ = RequestFactory().get(path, **headers).environ
    answer: dict[str, Any] = {}

    written: list[bytes] = []

    def start_response(
        status: str, response_headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        answer["status"], answer["headers"] = int(status.split()[0]), dict(response_headers)
        return written.append

    body = application(environ, start_response)
    try:
        content = b"".join(body)
    finally:
        body.close()
    return answer["status"], answer["headers"], content


@pytest.fixture(autouse=True)
def _fresh_connection_after() -> Iterator[None]:
    yield
    # The database flush after a transactional test must not meet the dead connection.
    connection.close()


def test_a_lost_database_answers_the_api_503_with_retry_after_and_the_next_request_reconnects(
    client: Client, emr: dict[str, Any]
) -> None:
    # The test Client does not run Django's request-start connection check, so the
    # request meets the dead connection as one already in flight would.
    terminate_django_connection()
    response = client.get("/api/v1/procedures", **emr)
    assert response.status_code == 503, response.content
    assert int(response["Retry-After"]) > 0
    assert response.json()["error"]["code"] == "database_unavailable"
    status, _, _ = wsgi_get("/api/v1/procedures", **emr)
    assert status == 200


def test_a_lost_database_answers_a_cds_hooks_call_503_with_retry_after(
    client: Client, ehr: Ehr
) -> None:
    terminate_django_connection()
    response = ehr.hook(client, "imaging-order-select", {"hook": "order-select"})
    assert response.status_code == 503, response.content
    assert response.has_header("Retry-After")
    assert response.json()["error"]["code"] == "database_unavailable"


def test_a_lost_database_answers_fhir_with_a_transient_operation_outcome(
    client: Client, emr: dict[str, Any]
) -> None:
    terminate_django_connection()
    response = client.get("/fhir/Slot", **emr)
    assert response.status_code == 503, response.content
    assert response.has_header("Retry-After")
    assert response["Content-Type"].startswith("application/fhir+json")
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "transient"


@pytest.mark.parametrize("path", ["/", "/orders/"])
def test_a_lost_database_met_while_reading_the_session_answers_a_plain_503_page(
    actors: Actors, path: str
) -> None:
    # The session is read by middleware, before any view: Django has already made the
    # 500 when DatabaseUnavailableMiddleware sees it. The Client would re-raise the
    # exception it was signalled; the answer is what is tested here.
    browser = Client(raise_request_exception=False)
    browser.force_login(actors.alice)
    terminate_django_connection()
    response = browser.get(path)
    assert response.status_code == 503, response.content[:300]
    assert response.has_header("Retry-After")
    assert response["Content-Type"].startswith("text/html")
    assert b"<h1>" in response.content
    cookies = "; ".join(f"{name}={morsel.value}" for name, morsel in browser.cookies.items())
    status, _, _ = wsgi_get(path, HTTP_COOKIE=cookies)
    assert status == 200
