"""Refreshing a centre's availability from its feed, and the feed's state.

A refresh is idempotent: FHIR slots are upserted by (machine, Slot.id); a free
slot that vanished from the feed is withdrawn unless it is booked; own-schedule
slots are brought in line with the opening hours. A feed that fails keeps the
slots already known, records the error and waits twice as long each time
(up to ``AVAILABILITY_MAX_BACKOFF_SECONDS``) before the next try.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from imaging_cds.outbound import Allowance, OutboundRefused, outbound_check
from scheduling import cache as availability_cache
from scheduling.feeds.fhir import FeedError, FeedSlot, fetch_free_slots, schedule_key
from scheduling.models import Centre, FeedState, Slot, SlotSource, SlotStatus
from scheduling.schedules import own_schedule_sync

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefreshOutcome:
    centre_id: int
    ok: bool
    kind: str  # "fhir" or "own"
    free_slots: int = 0
    created: int = 0
    withdrawn: int = 0
    unmapped: int = 0
    pages: int = 0
    error: str = ""


def feed_state_get(centre: Centre) -> FeedState:
    state, _ = FeedState.objects.get_or_create(
        centre=centre, defaults={"next_run_at": timezone.now()}
    )
    return state


def feed_backoff_seconds(*, interval: int, failures: int) -> int:
    return int(min(interval * 2 ** min(failures, 16), settings.AVAILABILITY_MAX_BACKOFF_SECONDS))


def feed_record_failure(*, centre_id: int, error: str, attempt_at: datetime) -> FeedState:
    with transaction.atomic():
        centre = Centre.objects.get(pk=centre_id)
        state = FeedState.objects.select_for_update().get(pk=feed_state_get(centre).pk)
        state.consecutive_failures += 1
        state.last_attempt_at = attempt_at
        state.last_error = error[:2000]
        state.last_error_at = attempt_at
        wait = feed_backoff_seconds(
            interval=centre.feed_interval_seconds, failures=state.consecutive_failures
        )
        state.next_run_at = timezone.now() + timedelta(seconds=wait)
        state.save()
    logger.warning(
        "feed of centre %s failed (%s in a row): %s", centre_id, state.consecutive_failures, error
    )
    return state


def _apply_fhir(
    centre: Centre, feed: list[FeedSlot], now: datetime, horizon: datetime
) -> tuple[int, int, int, int]:
    """Write one complete FHIR answer; returns (free, created, withdrawn, unmapped)."""
    machines = {
        schedule_key(e.fhir_schedule): e.pk for e in centre.equipment.all() if e.fhir_schedule
    }
    wanted: dict[tuple[int, str], FeedSlot] = {}
    unmapped = 0
    for item in feed:
        machine_id = machines.get(item.schedule_ref)
        if machine_id is None:
            unmapped += 1
            continue
        if item.status != "free" or not (now <= item.start < horizon):
            continue
        wanted[(machine_id, item.id)] = item
    existing = {
        (equipment_id, external_id): (pk, status, start, end)
        for pk, equipment_id, external_id, status, start, end in Slot.objects.filter(
            equipment__centre=centre,
            source=SlotSource.FHIR,
            start__gte=now,
            start__lt=horizon,
        ).values_list("id", "equipment_id", "external_id", "status", "start", "end")
    }
    to_create = [
        Slot(
            equipment_id=machine_id,
            start=item.start,
            end=item.end,
            status=SlotStatus.FREE,
            source=SlotSource.FHIR,
            external_id=item.id,
        )
        for (machine_id, _), item in wanted.items()
        if (machine_id, item.id) not in existing
    ]
    Slot.objects.bulk_create(to_create, batch_size=5000, ignore_conflicts=True)
    reopen: list[int] = []
    vanished: list[int] = []
    for key, (pk, status, start, end) in existing.items():
        found = wanted.get(key)
        if found is None:
            if status in (SlotStatus.FREE, SlotStatus.HELD):
                vanished.append(pk)
        elif (start, end) != (found.start, found.end):
            # Moved on the centre's side: follow it unless it is held or booked here.
            Slot.objects.filter(pk=pk, status__in=[SlotStatus.FREE, SlotStatus.WITHDRAWN]).update(
                start=found.start, end=found.end, status=SlotStatus.FREE
            )
        elif status == SlotStatus.WITHDRAWN:
            reopen.append(pk)
    # Conditional updates: a slot booked meanwhile is never touched.
    Slot.objects.filter(pk__in=reopen, status=SlotStatus.WITHDRAWN).update(status=SlotStatus.FREE)
    withdrawn = Slot.objects.filter(
        pk__in=vanished, status__in=[SlotStatus.FREE, SlotStatus.HELD]
    ).update(status=SlotStatus.WITHDRAWN, held_by=None, held_until=None)
    return len(wanted), len(to_create), withdrawn, unmapped


def feed_url_check(url: str) -> None:
    """Raise FeedError unless the feed URL may be fetched (imaging_cds.outbound, with
    the hosts ``FEED_ALLOWED_HOSTS`` allows on loopback or private networks)."""
    try:
        outbound_check(url, Allowance(hosts=tuple(settings.FEED_ALLOWED_HOSTS)))
    except OutboundRefused as exc:
        raise FeedError(f"feed URL refused, nothing was fetched: {exc}") from None


def availability_refresh(*, centre_id: int, horizon_days: int | None = None) -> RefreshOutcome:
    """Read one centre's feed (or own schedule) and write what it says; never raises
    for a broken feed: the error goes to its FeedState."""
    centre = Centre.objects.get(pk=centre_id)
    feed_state_get(centre)
    attempt_at = timezone.now()
    horizon_days = horizon_days or settings.AVAILABILITY_HORIZON_DAYS
    horizon = attempt_at + timedelta(days=horizon_days)
    kind = "fhir" if centre.feed_url else "own"
    created = withdrawn = unmapped = pages = free = 0
    if centre.feed_url:
        try:
            feed_url_check(centre.feed_url)
            fetched = fetch_free_slots(
                base_url=centre.feed_url,
                start_ge=attempt_at,
                start_lt=horizon,
                timeout_seconds=settings.AVAILABILITY_FEED_TIMEOUT_SECONDS,
                budget_seconds=settings.AVAILABILITY_FEED_BUDGET_SECONDS,
                max_pages=settings.AVAILABILITY_FEED_MAX_PAGES,
            )
        except FeedError as exc:
            feed_record_failure(centre_id=centre_id, error=str(exc), attempt_at=attempt_at)
            return RefreshOutcome(centre_id=centre_id, ok=False, kind=kind, error=str(exc))
        pages = fetched.pages
    with transaction.atomic():
        # One writer per centre at a time: a second refresh waits for this one.
        state = FeedState.objects.select_for_update().get(centre=centre)
        if centre.feed_url:
            free, created, withdrawn, unmapped = _apply_fhir(
                centre, fetched.slots, timezone.now(), horizon
            )
        else:
            outcome = own_schedule_sync(centre_id=centre_id, horizon_days=horizon_days)
            created, withdrawn = outcome.created, outcome.withdrawn
            free = Slot.objects.filter(
                equipment__centre=centre, status=SlotStatus.FREE, start__gte=attempt_at
            ).count()
        state.last_attempt_at = attempt_at
        state.last_success_at = attempt_at
        state.consecutive_failures = 0
        state.last_slot_count = free
        state.last_unmapped_count = unmapped
        state.next_run_at = timezone.now() + timedelta(seconds=centre.feed_interval_seconds)
        state.save()
        transaction.on_commit(lambda: cache_write_quietly([centre_id]))
    return RefreshOutcome(
        centre_id=centre_id,
        ok=True,
        kind=kind,
        free_slots=free,
        created=created,
        withdrawn=withdrawn,
        unmapped=unmapped,
        pages=pages,
    )


def cache_write_quietly(centre_ids: list[int]) -> None:
    """Rewrite the cache entries of these centres; a cache outage is logged, not raised
    (searches then read the database and say so)."""
    try:
        availability_cache.cache_write_centres(centre_ids)
    except Exception as exc:  # any cache client error: the database stays the truth
        logger.warning("availability cache not updated for %s: %r", centre_ids, exc)


def index_rebuild_quietly() -> None:
    try:
        availability_cache.index_rebuild()
    except Exception as exc:  # as above
        logger.warning("availability index not rebuilt: %r", exc)


def feeds_claim_due(*, now: datetime | None = None) -> list[int]:
    """The centres whose feed is due, each claimed for one task (a lease on next_run_at,
    so that a worker lost mid-task is retried after the hard time limit)."""
    now = now or timezone.now()
    missing = Centre.objects.filter(feed_state__isnull=True).values_list("id", flat=True)
    FeedState.objects.bulk_create(
        [FeedState(centre_id=pk, next_run_at=now) for pk in missing], ignore_conflicts=True
    )
    lease = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 30)
    with transaction.atomic():
        due = list(
            FeedState.objects.select_for_update(skip_locked=True)
            .filter(next_run_at__lte=now)
            .values_list("centre_id", flat=True)
        )
        FeedState.objects.filter(centre_id__in=due).update(next_run_at=now + lease)
    return due


def feed_schedule_now(*, centre_id: int) -> None:
    """Make a centre's feed due at once (after its manager changed something)."""
    FeedState.objects.update_or_create(
        centre_id=centre_id, defaults={"next_run_at": timezone.now()}
    )
