"""The availability cache: when it was last refreshed, and (later) next free slots."""

from __future__ import annotations

from datetime import datetime

from django.core.cache import cache
from django.utils import timezone

REFRESHED_AT_KEY = "availability:refreshed_at"


def availability_mark_refreshed(at: datetime | None = None) -> None:
    cache.set(REFRESHED_AT_KEY, (at or timezone.now()).isoformat(), timeout=None)


def availability_refreshed_at() -> datetime | None:
    value = cache.get(REFRESHED_AT_KEY)
    return datetime.fromisoformat(value) if value else None


def availability_age_seconds() -> float | None:
    refreshed = availability_refreshed_at()
    if refreshed is None:
        return None
    return (timezone.now() - refreshed).total_seconds()
