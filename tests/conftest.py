"""Shared fixtures. Every external component a test claims to cover is the real one:
PostgreSQL, Redis, a Celery worker, Orthanc, Chromium. A missing component makes
the test fail with the reason; nothing is skipped."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings
from django.db import connection

from tests.actors import Actors, make_actors


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Browser tests are slowest: run them last so that quick failures show first.
    items.sort(key=lambda item: 1 if item.get_closest_marker("browser") else 0)


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


@pytest.fixture
def clear_cache(redis_url: str) -> Iterator[None]:
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
