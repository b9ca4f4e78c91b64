"""Celery tasks: thin callers of the ordering services."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from ordering.cds.auth import used_jwt_ids_purge


@shared_task(
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=3,
    soft_time_limit=60,
    time_limit=90,
)
def used_jwt_ids_purge_expired() -> int:
    return used_jwt_ids_purge()
