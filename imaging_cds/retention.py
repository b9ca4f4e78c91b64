"""The retention purge: consultations, their orders and audit records older than
RETENTION_DAYS go, except what an open order still needs (signed, not cancelled,
appointment still to come): its consultation, the order, and the patient's trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from imaging_cds.models import AuditEvent


@dataclass(frozen=True)
class PurgeReport:
    cutoff: datetime
    consultations: int
    orders: int
    audit_events: int
    kept_for_open_orders: int


def retention_purge(*, days: int | None = None, dry_run: bool = False) -> PurgeReport:
    from ordering.models import Consultation, Order, OrderStatus

    now = timezone.now()
    cutoff = now - timedelta(days=days if days is not None else settings.RETENTION_DAYS)
    open_orders = Order.objects.filter(status=OrderStatus.SIGNED, booking__slot__start__gt=now)
    with transaction.atomic():
        kept = Consultation.objects.filter(created_at__lt=cutoff, orders__in=open_orders)
        kept_refs = set(kept.values_list("patient_ref", flat=True))
        old = Consultation.objects.filter(created_at__lt=cutoff).exclude(pk__in=kept.values("pk"))
        orders = Order.objects.filter(consultation__in=old)
        events = AuditEvent.objects.filter(at__lt=cutoff).exclude(
            Q(patient_ref__in=kept_refs) & ~Q(patient_ref="")
        )
        report = PurgeReport(
            cutoff=cutoff,
            consultations=old.count(),
            orders=orders.count(),
            audit_events=events.count(),
            kept_for_open_orders=kept.distinct().count(),
        )
        if dry_run:
            return report
        orders.delete()
        old.delete()
        if connection.vendor == "postgresql":
            # The audit table refuses deletes (migration 0003) unless this
            # transaction says it is the retention purge.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL imaging_cds.audit_purge = 'on'")
        events.delete()
        AuditEvent.objects.create(
            action="retention.purge",
            actor_username="retention_purge",
            detail={
                "cutoff": cutoff.isoformat(),
                "consultations": report.consultations,
                "orders": report.orders,
                "audit_events": report.audit_events,
                "kept_for_open_orders": report.kept_for_open_orders,
            },
        )
    return report
