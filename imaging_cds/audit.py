"""Recording who did what to which patient's data, from where and why."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from imaging_cds.models import AuditEvent


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
