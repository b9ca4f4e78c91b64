"""Shared fixtures. Every external component a test claims to cover is the real one:
PostgreSQL, Redis, a Celery worker, Orthanc, Chromium. A missing component makes
the test fail with the reason; nothing is skipped."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from tests.actors import Actors, make_actors
from tests.world import flow_pacs, world  # noqa: F401  (shared fixtures)

RUN_LOG = Path(__file__).resolve().parent.parent / "test-artifacts" / "logs" / "test-run.log"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Browser tests are slowest: run them late so that quick failures show first; the
    # log scan reads what the whole run wrote, so it comes last of all.
    def order(item: pytest.Item) -> int:
        if item.get_closest_marker("log_scan"):
            return 2
        return 1 if item.get_closest_marker("browser") else 0

    items.sort(key=order)


@pytest.fixture(autouse=True, scope="session")
def _run_log() -> Iterator[None]:
    """Everything any logger writes during the run also goes to one file, scanned at
    the end for patient data (tests/test_log_scan.py)."""
    RUN_LOG.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(RUN_LOG, mode="w", encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    loggers = [logging.getLogger()] + [
        logging.getLogger(name)
        for name, obj in logging.Logger.manager.loggerDict.items()
        if isinstance(obj, logging.Logger) and not obj.propagate
    ]
    for logger in loggers:
        logger.addHandler(handler)
    # A marker line, so the file is never empty even in a quiet run.
    logging.getLogger("tests").warning("test run started")
    yield
    for logger in loggers:
        logger.removeHandler(handler)
    handler.close()


@pytest.fixture(autouse=True, scope="session")
def _real_database(django_db_setup: None, django_db_blocker: pytest.FixtureRequest) -> None:
    """The suite runs on PostgreSQL: a run on SQLite would prove nothing about production."""
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql", (
        "The test suite needs PostgreSQL: run it with `make test` "
        "(DATABASE_URL=postgres://postgres@127.0.0.1:5432/imaging_cds)."
    )
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        assert connection.vendor == "postgresql"


@pytest.fixture
def redis_url() -> str:
    """The real Redis of this machine; the test fails if it is not there."""
    import redis

    url = settings.REDIS_URL
    assert url, "REDIS_URL is not set: run the suite with `make test`."
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {url} is not reachable: {exc}")
    return url


@pytest.fixture
def actors(db: None) -> Actors:
    return make_actors()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """The demo's accounts are created again for every test that loads the demo; the
    production hasher's 600,000 rounds (1.5 s a demo load) prove nothing here. The
    login tests still check passwords through Django's own machinery."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _pacs_breaker_off(settings: Any) -> None:
    """A PACS breaker opened by one test (ordering/pacs/breaker.py) would make the next
    test skip that PACS: the breaker's own tests (tests/pacs/test_breaker.py) turn it
    on; the load-and-fault run keeps it on, as production does."""
    settings.PACS_BREAKER_SECONDS = 0


@pytest.fixture
def clear_cache(redis_url: str) -> Iterator[None]:
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
