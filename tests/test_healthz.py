from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client, override_settings

from ordering.pacs import nodes as pacs_nodes
from tests.orthanc import OrthancServer, free_port


@pytest.fixture(scope="module")
def orthanc() -> Iterator[OrthancServer]:
    server = OrthancServer(dicomweb=False).start()
    yield server
    server.cleanup()


def _point_pacs_at(settings: object, port: int, aet: str = "ORTHANC") -> None:
    settings.PACS_HOST = "127.0.0.1"  # type: ignore[attr-defined]
    settings.PACS_PORT = port  # type: ignore[attr-defined]
    settings.PACS_CALLED_AET = aet  # type: ignore[attr-defined]
    assert pacs_nodes.configured_nodes()[0].port == port


@pytest.mark.django_db
def test_healthz_reports_every_part_up_with_real_postgres_redis_and_orthanc(
    client: Client, redis_url: str, orthanc: OrthancServer, settings: object
) -> None:
    _point_pacs_at(settings, orthanc.dicom_port)
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    parts = body["parts"]
    assert parts["database"] == {"ok": True, "required": True, "detail": "postgresql"}
    assert parts["cache"]["ok"] and parts["cache"]["detail"] == "redis"
    assert parts["broker"]["ok"]
    assert parts["pacs:default"] == {"ok": True, "required": False, "detail": "echo ok"}
    assert "availability_cache_age_seconds" in body


@pytest.mark.django_db
def test_healthz_is_503_when_the_cache_is_down(
    client: Client, settings: object, orthanc: OrthancServer
) -> None:
    _point_pacs_at(settings, orthanc.dicom_port)
    dead = f"redis://127.0.0.1:{free_port()}/0"
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": dead,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    # override_settings resets Django's cache handlers, so the view meets the dead Redis.
    with override_settings(CACHES=caches):
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["parts"]["cache"]["ok"] is False


@pytest.mark.django_db
def test_a_pacs_that_is_down_is_reported_but_does_not_fail_healthz(
    client: Client, settings: object, redis_url: str
) -> None:
    _point_pacs_at(settings, free_port())
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["parts"]["pacs:default"]["ok"] is False


@pytest.mark.django_db
def test_a_required_pacs_that_is_down_makes_healthz_503(
    client: Client, settings: object, redis_url: str
) -> None:
    _point_pacs_at(settings, free_port())
    settings.PACS_REQUIRED = True  # type: ignore[attr-defined]
    assert client.get("/healthz").status_code == 503


@pytest.mark.django_db
def test_a_wrong_called_ae_title_is_reported(
    client: Client, settings: object, orthanc: OrthancServer, redis_url: str
) -> None:
    _point_pacs_at(settings, orthanc.dicom_port, aet="NOTORTHANC")
    part = client.get("/healthz").json()["parts"]["pacs:default"]
    assert part == {"ok": False, "required": False, "detail": "association rejected"}
