"""Celery against a real worker on the real Redis broker (not eager mode)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from scheduling.availability import availability_refreshed_at
from scheduling.models import Centre, Equipment, FeedState, Slot
from scheduling.tasks import availability_refresh_all
from tests.workers import RESULT_TIMEOUT, real_worker, wait_until


@pytest.fixture
def celery_worker(redis_url: str, transactional_db: None, clear_cache: None) -> Iterator[None]:
    # Started after clear_cache: flushing Redis under a running worker deletes its queue's
    # binding, and a task sent after that may go nowhere.
    with real_worker(redis_url, reporting=[availability_refresh_all]):
        yield


def _centre() -> Centre:
    centre = Centre.objects.create(
        name="Imagerie test",
        kind="private",
        price_sector="sector_1",
        address="1 rue de test",
        postcode="35000",
        town="Rennes",
        latitude=48.11,
        longitude=-1.68,
        opening_hours={d: [["08:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
    )
    Equipment.objects.create(centre=centre, name="Scanner", modality="CT")
    return centre


def _refreshed_after(centre: Centre, moment: datetime | None) -> bool:
    """The centre's refresh succeeded after `moment` (at all, if None). The refresh writes
    this in the same transaction as the slots, so the slots are there when it is."""
    success = FeedState.objects.filter(centre=centre).values_list("last_success_at", flat=True)
    return any(at is not None and (moment is None or at > moment) for at in success)


@pytest.mark.celery_worker
def test_a_real_worker_refreshes_own_schedules_through_redis(celery_worker: None) -> None:
    centre = _centre()
    assert availability_refreshed_at() is None
    # The worker answers how many refreshes it enqueued (one per centre), then runs them.
    assert availability_refresh_all.delay().get(timeout=RESULT_TIMEOUT) == Centre.objects.count()
    assert wait_until(lambda: _refreshed_after(centre, None)), "the centre was never refreshed"
    first = availability_refreshed_at()
    count = Slot.objects.filter(equipment__centre=centre).count()
    # 30 days of weekday opening, 10 hours a day in 20-minute slots (less today's past).
    assert count > 15 * 30
    # A second refresh is idempotent: it runs to success again, and adds no slot.
    assert availability_refresh_all.delay().get(timeout=RESULT_TIMEOUT) == Centre.objects.count()
    assert wait_until(lambda: _refreshed_after(centre, first)), "the second refresh never ran"
    assert Slot.objects.filter(equipment__centre=centre).count() == count
