"""The demo PACS (manage.py pacs_demo_serve) answers our own client over real DICOM."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.conf import LazySettings
from django.test import Client
from django.utils import timezone

from ordering.demo_studies import DEMO_ISSUER
from ordering.pacs.dimse import echo, find_studies
from ordering.pacs.query import StudyQuery
from ordering.priors import LookupStatus, priors_lookup
from tests.orthanc import free_port
from tests.pacs.conftest import node_at
from tests.test_settings import ROOT

AET = "DEMOPACS"


@pytest.fixture(scope="module")
def demo_pacs() -> Iterator[int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "pacs_demo_serve", "--port", str(port), "--aet", AET],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "imaging_cds.settings"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while not echo(node_at(port, AET)).ok:
            if process.poll() is not None:
                out = process.stdout.read().decode() if process.stdout else ""
                pytest.fail(f"pacs_demo_serve exited: {out}")
            if time.monotonic() > deadline:
                pytest.fail("pacs_demo_serve did not answer C-ECHO in 20 s")
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_demo_pacs_answers_a_c_find_from_our_client(demo_pacs: int) -> None:
    today = timezone.localdate()
    query = StudyQuery(
        patient_id="DEMO000005",
        issuer=DEMO_ISSUER,
        date_from=today - timedelta(days=365),
        date_to=today,
    )
    answer = find_studies(node_at(demo_pacs, AET), query, deadline=time.monotonic() + 2)
    assert answer.ok
    assert sorted(s.description for s in answer.studies) == [
        "ANGIOSCANNER THORACIQUE",
        "SCANNER ABDOMINO-PELVIEN INJECTE",
        "SCINTIGRAPHIE OSSEUSE",
    ]
    assert {s.institution for s in answer.studies} == {"CH Redon", "CHU Rennes"}


def test_the_demo_pacs_matches_dates_and_modalities(demo_pacs: int) -> None:
    today = timezone.localdate()
    query = StudyQuery(
        patient_id="DEMO000005",
        issuer=DEMO_ISSUER,
        date_from=today - timedelta(days=200),
        date_to=today,
        modalities=frozenset({"CT"}),
    )
    answer = find_studies(node_at(demo_pacs, AET), query, deadline=time.monotonic() + 2)
    assert sorted((today - s.study_date).days for s in answer.studies if s.study_date) == [5, 150]


def test_the_demo_pacs_refuses_a_wrong_ae_title(demo_pacs: int) -> None:
    assert not echo(node_at(demo_pacs, "SOMEONEELSE")).ok


@pytest.mark.django_db
def test_the_demo_lookup_and_healthz_go_over_dicom_to_the_demo_pacs(
    demo_pacs: int, settings: LazySettings, catalogue: None, clear_cache: None, client: Client
) -> None:
    settings.PACS_NODES = []
    settings.PACS_PORT = demo_pacs
    settings.PACS_CALLED_AET = AET
    result = priors_lookup(patient_id="DEMO000002", issuer=DEMO_ISSUER, today=timezone.localdate())
    assert result.status is LookupStatus.OK
    assert [fact.procedure_code for fact in result.facts] == ["mr-lumbar-spine", "dx-lumbar-spine"]
    assert client.get("/healthz").json()["parts"]["pacs:default"]["detail"] == "echo ok"
