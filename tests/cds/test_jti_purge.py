"""Used JWT ids are forgotten once their token can no longer be presented, by the beat
task on a real Celery worker over the real Redis broker, against real PostgreSQL; a
token still in its lifetime (or leeway) keeps its row, so its replay is still refused."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from ordering.cds.auth import LEEWAY_SECONDS
from ordering.models import UsedJwtId
from ordering.tasks import used_jwt_ids_purge_expired
from tests.cds.jwt_keys import register_client, rsa_key, token
from tests.workers import RESULT_TIMEOUT, real_worker

PATH = "/cds-services/imaging-order-select/feedback"


@pytest.fixture
def worker(redis_url: str, transactional_db: None, clear_cache: None) -> Iterator[None]:
    with real_worker(redis_url, reporting=[used_jwt_ids_purge_expired]):
        yield


def _row(expires_in: float) -> UsedJwtId:
    return UsedJwtId.objects.create(
        issuer="https://ehr.example.org",
        jti=uuid.uuid4().hex,
        expires_at=timezone.now() + timedelta(seconds=expires_in),
    )


@pytest.mark.celery_worker
def test_the_beat_task_on_a_real_worker_purges_only_what_can_no_longer_be_replayed(
    worker: None, client: Client
) -> None:
    expired = _row(-3600)
    in_leeway = _row(-(LEEWAY_SECONDS / 2))
    key = rsa_key()
    register_client(key)
    live = token(key, aud=f"http://testserver{PATH}")

    def post() -> int:
        return client.post(
            PATH,
            data=json.dumps({"feedback": []}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {live}",
        ).status_code

    assert post() == 400  # accepted, its jti remembered

    assert used_jwt_ids_purge_expired.delay().get(timeout=RESULT_TIMEOUT) == 1
    assert not UsedJwtId.objects.filter(pk=expired.pk).exists()
    assert UsedJwtId.objects.filter(pk=in_leeway.pk).exists()
    assert post() == 401  # the live token's replay is still refused
