"""Celery against a real worker on the real Redis broker (not eager mode)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from celery.contrib.testing.worker import start_worker

from imaging_cds.celery import app
from scheduling.availability import availability_refreshed_at
from scheduling.models import Centre, Equipment, Slot
from scheduling.tasks import availability_refresh_all


@pytest.fixture
def celery_worker(redis_url: str, transactional_db: None) -> Iterator[None]:
    assert not app.conf.task_always_eager, "tests must use the real broker, not eager mode"
    assert app.conf.broker_url.startswith("redis://")
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
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


@pytest.mark.celery_worker
def test_a_real_worker_refreshes_own_schedules_through_redis(
    celery_worker: None, clear_cache: None
) -> None:
    centre = _centre()
    assert availability_refreshed_at() is None
    availability_refresh_all.delay()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if Slot.objects.filter(equipment__centre=centre).exists() and availability_refreshed_at():
            break
        time.sleep(0.1)
    count = Slot.objects.filter(equipment__centre=centre).count()
    # 30 days of weekday opening, 10 hours a day in 20-minute slots (less today's past).
    assert count > 15 * 30
    assert availability_refreshed_at() is not None
    # A second refresh is idempotent: no duplicate slot.
    availability_refresh_all.delay()
    time.sleep(1.5)
    assert Slot.objects.filter(equipment__centre=centre).count() == count
