"""Recording who did what to which patient's data, from where and why."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, time, timedelta
from typing import Any, TextIO

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from imaging_cds.models import AuditEvent

# The request being served, set by AuditContextMiddleware: services deep in a call
# (a guideline change, a booking) record where it came from without being handed it.
_current_request: ContextVar[HttpRequest | None] = ContextVar("audit_request", default=None)


@contextmanager
def audit_request_context(request: HttpRequest) -> Iterator[None]:
    token = _current_request.set(request)
    try:
        yield
    finally:
        _current_request.reset(token)


def _client_address(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def audit_record(
    *,
    action: str,
    request: HttpRequest | None = None,
    user: Any = None,
    object_type: str = "",
    object_id: object = "",
    patient_ref: str = "",
    reason: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    if request is None:
        request = _current_request.get()
    actor: Any = user if user is not None else getattr(request, "user", None)
    authenticated = actor is not None and bool(getattr(actor, "is_authenticated", False))
    return AuditEvent.objects.create(
        actor_id=actor.pk if authenticated else None,
        actor_username=actor.get_username() if authenticated else "",
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        patient_ref=patient_ref,
        remote_addr=_client_address(request),
        reason=reason,
        detail=detail or {},
    )


AUDIT_SEARCH_LIMIT = 500
CSV_COLUMNS = (
    "at",
    "actor_username",
    "action",
    "object_type",
    "object_id",
    "patient_ref",
    "remote_addr",
    "reason",
    "detail",
)


def audit_events_search(
    *,
    patient_ref: str = "",
    username: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[AuditEvent]:
    """Selector: the trail filtered by patient (pseudonym), user and dates (inclusive,
    in the site's time zone), newest first."""
    events = AuditEvent.objects.all()
    if patient_ref:
        events = events.filter(patient_ref=patient_ref)
    if username:
        events = events.filter(actor_username=username)
    if date_from:
        events = events.filter(at__gte=_day_start(date_from))
    if date_to:
        events = events.filter(at__lt=_day_start(date_to + timedelta(days=1)))
    return events.order_by("-at", "-id")


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def audit_events_csv(events: Iterable[AuditEvent], out: TextIO) -> int:
    """Write events as CSV (UTF-8, one row per event); returns how many."""
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for event in events:
        writer.writerow(
            [
                event.at.isoformat(),
                event.actor_username,
                event.action,
                event.object_type,
                event.object_id,
                event.patient_ref,
                event.remote_addr or "",
                _csv_safe(event.reason),
                json.dumps(event.detail, sort_keys=True, ensure_ascii=False),
            ]
        )
        count += 1
    return count


def _csv_safe(text: str) -> str:
    # A cell starting with = + - @ is a formula to a spreadsheet: neutralise it.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
