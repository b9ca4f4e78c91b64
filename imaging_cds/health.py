"""What /healthz reports: each part's state, and whether the whole can serve."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from ordering.pacs.nodes import configured_nodes
from ordering.pacs.search import node_echo
from scheduling.availability import availability_age_seconds


@dataclass(frozen=True)
class PartStatus:
    name: str
    ok: bool
    required: bool
    detail: str


def _database() -> PartStatus:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "down"; the type is the detail
        return PartStatus("database", False, True, exc.__class__.__name__)
    return PartStatus("database", True, True, connection.vendor)


def _cache() -> PartStatus:
    kind = "redis" if settings.REDIS_URL else "local-memory"
    try:
        cache.set("healthz:probe", "1", timeout=10)
        ok = cache.get("healthz:probe") == "1"
    except Exception as exc:  # a Redis outage surfaces as various client errors
        return PartStatus("cache", False, True, f"{kind}: {exc.__class__.__name__}")
    return PartStatus("cache", ok, True, kind)


def _broker() -> PartStatus:
    if not settings.REDIS_URL:
        return PartStatus("broker", True, False, "in-process (no broker)")
    from imaging_cds.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=1)
    except Exception as exc:  # kombu raises several types for an unreachable broker
        return PartStatus("broker", False, True, exc.__class__.__name__)
    return PartStatus("broker", True, True, "redis")


def _pacs() -> list[PartStatus]:
    parts = []
    for node in configured_nodes():
        result = node_echo(node)
        parts.append(
            PartStatus(f"pacs:{node.name}", result.ok, bool(settings.PACS_REQUIRED), result.detail)
        )
    return parts


def health_report() -> tuple[bool, dict[str, object]]:
    parts = [_database(), _cache(), _broker(), *_pacs()]
    healthy = all(part.ok for part in parts if part.required)
    try:
        age = availability_age_seconds()
    except Exception:  # the cache is down: already reported as such above
        age = None
    report: dict[str, object] = {
        "status": "ok" if healthy else "unavailable",
        "parts": {
            part.name: {"ok": part.ok, "required": part.required, "detail": part.detail}
            for part in parts
        },
        "availability_cache_age_seconds": None if age is None else round(age, 1),
    }
    return healthy, report
