"""Celery tasks: thin callers of the scheduling services."""

from __future__ import annotations

from celery import shared_task

from scheduling.availability import availability_mark_refreshed
from scheduling.models import Centre
from scheduling.schedules import own_schedule_generate

OWN_SCHEDULE_HORIZON_DAYS = 30


@shared_task(
    autoretry_for=(ConnectionError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def own_schedule_refresh(centre_id: int) -> int:
    created = own_schedule_generate(centre_id=centre_id, horizon_days=OWN_SCHEDULE_HORIZON_DAYS)
    availability_mark_refreshed()
    return created


@shared_task
def availability_refresh_all() -> int:
    """Fan out one task per centre so that one slow centre never delays the others."""
    centre_ids = list(Centre.objects.filter(feed_url="").values_list("id", flat=True))
    for centre_id in centre_ids:
        own_schedule_refresh.delay(centre_id)
    return len(centre_ids)
