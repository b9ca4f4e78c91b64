"""Celery tasks: thin callers of the scheduling services.

Beat runs ``availability_dispatch_due`` every ``AVAILABILITY_REFRESH_SECONDS``;
it enqueues one ``availability_refresh_centre`` task per feed that is due, so a
slow or dead feed only ever occupies its own task (bounded by HTTP timeouts and
the task time limits) and never delays the others.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from scheduling.models import Centre
from scheduling.services import booking, feeds

logger = logging.getLogger(__name__)

# Only the database failing is worth a Celery retry; a broken feed is recorded on
# its FeedState and retried later with backoff by the dispatcher.
_DB_ERRORS = (OperationalError, InterfaceError)


@shared_task(autoretry_for=_DB_ERRORS, retry_backoff=True, retry_jitter=True, max_retries=3)
def availability_refresh_centre(centre_id: int) -> bool:
    started = timezone.now()
    try:
        return feeds.availability_refresh(centre_id=centre_id).ok
    except Centre.DoesNotExist:
        logger.info("centre %s no longer exists: nothing to refresh", centre_id)
        return False
    except SoftTimeLimitExceeded:
        feeds.feed_record_failure(
            centre_id=centre_id, error="the refresh exceeded its time limit", attempt_at=started
        )
        return False


@shared_task(autoretry_for=_DB_ERRORS, retry_backoff=True, retry_jitter=True, max_retries=3)
def availability_dispatch_due() -> int:
    due = feeds.feeds_claim_due()
    for centre_id in due:
        availability_refresh_centre.delay(centre_id)
    if due:
        # Centres or machines may have changed since the last tick; cheap and idempotent.
        feeds.index_rebuild_quietly()
    return len(due)


@shared_task(autoretry_for=_DB_ERRORS, retry_backoff=True, retry_jitter=True, max_retries=3)
def availability_refresh_all() -> int:
    """Refresh every centre now, one task each (manual use and the demo)."""
    centre_ids = list(Centre.objects.values_list("id", flat=True))
    for centre_id in centre_ids:
        availability_refresh_centre.delay(centre_id)
    feeds.index_rebuild_quietly()
    return len(centre_ids)


@shared_task(autoretry_for=_DB_ERRORS, retry_backoff=True, retry_jitter=True, max_retries=3)
def holds_release_expired() -> int:
    return booking.holds_release_expired()
