"""Trust foundations: append-only audit trail, log-in lockout, security headers."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, transaction
from django.test import Client

from imaging_cds.audit import audit_record
from imaging_cds.models import AuditEvent
from tests.actors import PASSWORD, Actors


def test_audit_rows_cannot_be_updated_or_deleted_by_application_code(actors: Actors) -> None:
    event = audit_record(action="consultation.read", user=actors.alice, patient_ref="abc")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(reason="tampered")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    event.refresh_from_db()
    assert event.reason == ""
    assert event.actor_username == "alice"


def test_the_retention_purge_may_delete_when_it_says_so_in_its_transaction(
    actors: Actors,
) -> None:
    from django.db import connection

    event = audit_record(action="order.sign", user=actors.alice)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL imaging_cds.audit_purge = 'on'")
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert not AuditEvent.objects.filter(pk=event.pk).exists()


def _login(client: Client, password: str) -> int:
    return client.post("/accounts/login/", {"username": "alice", "password": password}).status_code


def test_repeated_failed_log_ins_lock_the_account_even_with_the_right_password(
    client: Client, actors: Actors, settings: object
) -> None:
    for _ in range(4):
        assert _login(client, "wrong-password") == 200
    # The fifth failure locks the account; the right password no longer opens it.
    assert _login(client, "wrong-password") == 429
    assert _login(client, PASSWORD) == 429
    assert "_auth_user_id" not in client.session


def test_a_successful_log_in_works_before_the_limit(client: Client, actors: Actors) -> None:
    assert _login(client, "wrong-password") == 200
    assert _login(client, PASSWORD) == 302


@pytest.mark.django_db
def test_pages_carry_a_strict_content_security_policy_and_security_headers(
    client: Client,
) -> None:
    response = client.get("/accounts/login/")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "<script>" not in response.content.decode()
