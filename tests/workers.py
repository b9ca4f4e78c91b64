"""A real Celery worker on the real Redis broker, and ways for a test to wait on what
its tasks did rather than on a sleep."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from celery import Task
from celery.backends.redis import RedisBackend
from celery.contrib.testing.worker import start_worker

from imaging_cds.celery import app

# Far longer than any task here takes, so that a test that times out means the task
# never ran, not that the machine was busy.
RESULT_TIMEOUT = 20.0


@contextmanager
def real_worker(
    redis_url: str,
    *,
    reporting: Sequence[Task[Any, Any]],
    pool: str = "solo",
    concurrency: int = 1,
) -> Iterator[None]:
    """A worker in this process, fed by the broker of the settings. The tasks in
    `reporting` store their results in the same Redis while it runs, so the test can
    `.get()` what `.delay()` returned: the settings ignore results, nothing in
    production reads them."""
    assert not app.conf.task_always_eager, "tests must use the real broker, not eager mode"
    assert app.conf.broker_url.startswith("redis://")
    backend = RedisBackend(app=app, url=redis_url, expires=300)
    ignored = [task.ignore_result for task in reporting]
    for task in reporting:
        task.backend = backend
        task.ignore_result = False
    try:
        with start_worker(
            app,
            pool=pool,
            concurrency=concurrency,
            perform_ping_check=False,
            shutdown_timeout=10,
        ):
            yield
    finally:
        for task, ignore in zip(reporting, ignored, strict=True):
            task.ignore_result = ignore
            # Back to the app's own backend (the settings': none).
            task.backend = None  # type: ignore[assignment]


def wait_until(condition: Callable[[], bool], seconds: float = RESULT_TIMEOUT) -> bool:
    """For the work a task enqueues itself, whose result the test cannot hold: poll
    the row that work writes."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False
