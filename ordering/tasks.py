"""Celery tasks: thin callers of the ordering services."""

from __future__ import annotations

import time

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from ordering import outbox
from ordering.cds.auth import used_jwt_ids_purge
from ordering.centre_fhir.delivery import fhir_deliver_centre, message_budget_seconds

BUSY_RECHECK_SECONDS = 5


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


@shared_task(
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=3,
)
def outbox_deliver(centre_id: int) -> int:
    """Deliver one centre's due messages (its RIS, then its FHIR server), then come
    back when the next one is due."""
    # Stop taking new messages with time left for one full send before the soft limit.
    longest_send = max(
        settings.MLLP_CONNECT_TIMEOUT + settings.MLLP_ANSWER_TIMEOUT, message_budget_seconds()
    )
    budget = max(settings.CELERY_TASK_SOFT_TIME_LIMIT - longest_send - 5, 1.0)
    started = time.monotonic()
    ris = outbox.outbox_deliver_centre(centre_id=centre_id, budget_seconds=budget)
    fhir = fhir_deliver_centre(
        centre_id=centre_id, budget_seconds=max(budget - (time.monotonic() - started), 0.0)
    )
    if ris.busy:
        # The lease holder may have looked before a message was queued: look again soon.
        outbox_deliver.apply_async((centre_id,), countdown=BUSY_RECHECK_SECONDS)
        return ris.delivered + fhir.delivered
    # A run that found its head still waiting leaves it to the run that tried it (or,
    # if that worker died, to beat's outbox_dispatch_due).
    due = [run.next_due for run in (ris, fhir) if run.next_due is not None and run.attempted]
    if due:
        outbox_deliver.apply_async((centre_id,), eta=min(due))
    return ris.delivered + fhir.delivered


@shared_task(autoretry_for=(OperationalError, InterfaceError), retry_backoff=True, max_retries=3)
def outbox_dispatch_due() -> int:
    due = outbox.outbox_centres_due()
    for centre_id in due:
        outbox_deliver.delay(centre_id)
    return len(due)
