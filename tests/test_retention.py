"""manage.py retention_purge on PostgreSQL (whose trigger guards the audit table)."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from imaging_cds.audit import audit_record
from imaging_cds.models import AuditEvent
from ordering.models import Consultation, Order, OrderStatus
from scheduling.models import SlotStatus
from tests.permissions.world import World, _consultation, _order, _slot, make_world


def backdate(consultation: Consultation, days: int) -> None:
    Consultation.objects.filter(pk=consultation.pk).update(
        created_at=timezone.now() - timedelta(days=days)
    )


def old_audit_event(action: str, patient_ref: str, days: int) -> None:
    # The trail is append-only: an old row can only be written as old.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO imaging_cds_auditevent (at, action, object_type, object_id, "
            "patient_ref, actor_username, reason, detail) "
            "VALUES (%s, %s, '', '', %s, 'alice', '', '{}')",
            [timezone.now() - timedelta(days=days), action, patient_ref],
        )


def test_the_purge_deletes_what_is_older_than_the_retention_but_keeps_open_orders(
    db: None, settings: object
) -> None:
    settings.RETENTION_DAYS = 365  # type: ignore[attr-defined]
    world: World = make_world()
    # alice's consultation has an open order (signed, appointment in two days): kept.
    backdate(world.consultation, 400)
    # bob's has an order whose appointment has passed: purged with its order.
    Order.objects.filter(pk=world.other_order.pk).update(status=OrderStatus.CANCELLED)
    backdate(world.other_consultation, 400)
    # An old consultation without an order, and a recent one.
    old = _consultation(world.actors.alice, "MATRIX02")
    backdate(old, 800)
    recent = _consultation(world.actors.alice, "MATRIX02")
    old_audit_event("consultation.read", world.consultation.patient_ref, 500)
    old_audit_event("consultation.read", old.patient_ref, 500)
    recent_event = audit_record(action="order.read", patient_ref=old.patient_ref)

    out = StringIO()
    call_command("retention_purge", stdout=out)

    remaining = set(Consultation.objects.values_list("pk", flat=True))
    assert remaining == {world.consultation.pk, recent.pk, world.api_consultation.pk}
    assert Order.objects.filter(pk=world.order.pk).exists()
    assert not Order.objects.filter(pk=world.other_order.pk).exists()
    refs = list(AuditEvent.objects.filter(action="consultation.read").values_list("patient_ref"))
    assert refs == [(world.consultation.patient_ref,)], "the open order's trail stays"
    assert AuditEvent.objects.filter(pk=recent_event.pk).exists()
    purge = AuditEvent.objects.get(action="retention.purge")
    assert purge.detail["consultations"] == 2 and purge.detail["kept_for_open_orders"] == 1
    assert "2 consultations" in out.getvalue()


def test_a_dry_run_counts_and_deletes_nothing(db: None) -> None:
    world = make_world()
    backdate(world.other_consultation, 5000)
    out = StringIO()
    call_command("retention_purge", "--dry-run", "--days", "30", stdout=out)
    assert "Would delete" in out.getvalue()
    assert Consultation.objects.filter(pk=world.other_consultation.pk).exists()
    assert not AuditEvent.objects.filter(action="retention.purge").exists()


def test_an_open_order_whose_slot_is_past_no_longer_holds_its_consultation(db: None) -> None:
    world = make_world()
    past = _slot(world.equipment, -3, SlotStatus.BOOKED)
    consultation = _consultation(world.actors.bob, "MATRIX02")
    _order(consultation, past, "MATRIX02")
    backdate(consultation, 5000)
    call_command("retention_purge", "--days", "30", stdout=StringIO())
    assert not Consultation.objects.filter(pk=consultation.pk).exists()
