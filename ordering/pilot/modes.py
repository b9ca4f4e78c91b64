"""Decision-support modes: the one selector every entry point asks (page, REST API,
CDS Hooks) and the one service that changes them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone

from imaging_cds.audit import audit_record
from imaging_cds.roles import MODE_CHANGERS, has_role
from ordering.models import CdsMode, CdsModeValue, PrescriberProfile

# With no period declared the platform runs as it always did: shown.
DEFAULT_MODE = CdsModeValue.ACTIVE


def prescriber_service(user: Any) -> str:
    """The service a prescriber belongs to, "" when none is declared."""
    if user is None or getattr(user, "pk", None) is None:
        return ""
    service = (
        PrescriberProfile.objects.filter(user_id=user.pk).values_list("service", flat=True).first()
    )
    return service or ""


def cds_mode_at(*, service: str, when: datetime) -> CdsModeValue:
    """The mode in force for a service at a moment: a period of the service wins over a
    period of the whole site; among periods of the same scope, the one that started
    last (then the one declared last). Days are the site's (TIME_ZONE), ends inclusive."""
    day = timezone.localdate(when)
    scopes = [""] if not service else ["", service]
    row = (
        CdsMode.objects.filter(service__in=scopes, starts_on__lte=day)
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=day))
        .annotate(
            specific=Case(
                When(service="", then=Value(0)), default=Value(1), output_field=IntegerField()
            )
        )
        .order_by("-specific", "-starts_on", "-changed_at", "-pk")
        .values_list("mode", flat=True)
        .first()
    )
    return CdsModeValue(row) if row else DEFAULT_MODE


def cds_modes_history() -> QuerySet[CdsMode]:
    return CdsMode.objects.select_related("changed_by").order_by("-changed_at", "-pk")


def cds_mode_set(
    *,
    user: Any,
    mode: str,
    starts_on: date,
    ends_on: date | None = None,
    service: str = "",
    reason: str,
    request: Any = None,
) -> CdsMode:
    """Declare a period. Only a guideline editor or the medical director may, and always
    with a reason; the change is in the audit trail."""
    if not has_role(user, *MODE_CHANGERS):
        raise PermissionDenied
    row = CdsMode(
        service=service.strip(),
        mode=mode,
        starts_on=starts_on,
        ends_on=ends_on,
        reason=reason.strip(),
        changed_by=user,
    )
    row.full_clean()
    with transaction.atomic():
        row.save()
        audit_record(
            action="cds_mode.set",
            request=request,
            user=user,
            object_type="cds_mode",
            object_id=row.pk,
            reason=row.reason,
            detail={
                "service": row.service,
                "mode": row.mode,
                "starts_on": row.starts_on.isoformat(),
                "ends_on": row.ends_on.isoformat() if row.ends_on else None,
            },
        )
    return row
