"""Beat's dispatcher and the refresh tasks on a real Celery worker (threads pool) over
the real Redis broker, against a real local FHIR server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from imaging_cds.celery import app
from scheduling.models import FeedState, Slot
from scheduling.tasks import availability_dispatch_due
from tests.orthanc import free_port
from tests.scheduling.conftest import make_centre, make_machine
from tests.scheduling.fhir_server import FhirServer, published_examples, slot_resource
from tests.workers import RESULT_TIMEOUT, real_worker, wait_until


@pytest.fixture
def threaded_worker(redis_url: str, transactional_db: None, clear_cache: None) -> Iterator[None]:
    # Started after clear_cache: flushing Redis under a running worker deletes its queue's
    # binding, and a task sent after that may go nowhere.
    with real_worker(
        redis_url, reporting=[availability_dispatch_due], pool="threads", concurrency=4
    ):
        yield


def test_the_beat_schedule_dispatches_feeds_and_sweeps_expired_holds() -> None:
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert tasks == {
        "scheduling.tasks.availability_dispatch_due",
        "scheduling.tasks.holds_release_expired",
        "ordering.tasks.used_jwt_ids_purge_expired",
        "ordering.tasks.outbox_dispatch_due",
    }
    # What a worker imports at start (autodiscovery): run alone, this test imported
    # no app's tasks module yet.
    app.loader.import_default_modules()
    assert all(task in app.tasks for task in tasks)


@pytest.mark.celery_worker
def test_a_real_worker_refreshes_each_due_feed_and_a_slow_one_delays_no_other(
    threaded_worker: None, fhir_server: FhirServer
) -> None:
    start = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    fast = []
    for name in ("fast-1", "fast-2"):
        centre = make_centre(name, feed_url=fhir_server.url(name))
        make_machine(centre, fhir_schedule="Schedule/example")
        fhir_server.serve(
            name,
            published_examples(move_to_after=timezone.now()),
            [slot_resource(f"{name}-x", "Schedule/example", start)],
        )
        fast.append(centre)
    slow = make_centre("slow", feed_url=fhir_server.url("slow"))
    make_machine(slow, fhir_schedule="Schedule/example")
    # Slower than the worker's HTTP timeout (10 s by default): the task gives up on it.
    fhir_server.serve("slow", [], delay=12)
    dead = make_centre("dead", feed_url=f"http://127.0.0.1:{free_port()}/fhir")
    make_machine(dead, fhir_schedule="Schedule/example")
    broken = make_centre("broken", feed_url=fhir_server.url("broken"))
    fhir_server.serve("broken", raw=b'{"resourceType": "Bundle", "entry": [{"resource": 1}]}')

    dispatched = availability_dispatch_due.delay()
    # None of the five centres has ever run: the tick claims each of them.
    assert dispatched.get(timeout=RESULT_TIMEOUT) == 5

    def fast_done() -> bool:
        return FeedState.objects.filter(centre__in=fast, last_success_at__isnull=False).count() == 2

    assert wait_until(fast_done, 6), "the fast feeds waited for the slow one"
    slow_state = FeedState.objects.get(centre=slow)
    assert slow_state.last_attempt_at is None, "the slow feed should still be running"
    assert Slot.objects.filter(equipment__centre__in=fast).count() == 4
    assert wait_until(
        lambda: FeedState.objects.filter(centre=dead, consecutive_failures=1).exists(), 5
    )
    assert "cannot reach" in FeedState.objects.get(centre=dead).last_error
    assert wait_until(
        lambda: FeedState.objects.filter(centre=broken, consecutive_failures=1).exists(), 5
    )
    assert "invalid Bundle" in FeedState.objects.get(centre=broken).last_error
    assert wait_until(
        lambda: FeedState.objects.filter(centre=slow, consecutive_failures=1).exists(), 15
    )
    assert "timeout" in FeedState.objects.get(centre=slow).last_error
    # Nothing is due any more: a second tick dispatches nothing and changes nothing.
    before = Slot.objects.count()
    assert availability_dispatch_due.delay().get(timeout=RESULT_TIMEOUT) == 0
    assert Slot.objects.count() == before
