"""A PACS that is down costs one failure, not one per decision: the circuit breaker
per node (ordering/pacs/breaker.py), against real Orthanc and real Redis."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from django.conf import LazySettings
from django.utils import translation

from ordering.pacs.breaker import breaker_check, breaker_record
from ordering.pacs.query import Failure, NodeAnswer
from ordering.priors import LookupStatus, PriorLookup, priors_lookup
from tests.orthanc import free_port
from tests.pacs.conftest import ALICE, INS_OID, TODAY, Pacs, dimse_node, node_at

pytestmark = pytest.mark.django_db


@pytest.fixture
def breaker_on(settings: LazySettings, catalogue: None, clear_cache: None) -> Iterator[None]:
    settings.PACS_BREAKER_SECONDS = 30
    settings.PACS_TIMEOUT_SECONDS = 2.0
    with translation.override("en"):
        yield


def lookup() -> PriorLookup:
    # force_refresh: every lookup goes to the PACS (or to its breaker), never the cache.
    return priors_lookup(patient_id=ALICE, issuer=INS_OID, today=TODAY, force_refresh=True)


def test_a_pacs_found_down_is_not_asked_again_and_the_reason_says_so(
    settings: LazySettings, breaker_on: None
) -> None:
    settings.PACS_NODES = [node_at(free_port(), name="chu")]
    first = lookup()
    assert first.status is LookupStatus.UNAVAILABLE
    assert first.reason == "prior exams unavailable: the PACS cannot be reached"
    second = lookup()
    assert second.status is LookupStatus.UNAVAILABLE
    assert second.reason == (
        "prior exams unavailable: the PACS failed moments ago (the PACS cannot be reached) "
        "and is not asked again for now"
    )


def test_after_the_pause_one_lookup_asks_again_and_an_answer_closes_the_breaker(
    settings: LazySettings, pacs: Pacs, breaker_on: None
) -> None:
    settings.PACS_BREAKER_SECONDS = 1
    # The node "main" is down (a port nobody listens on)…
    settings.PACS_NODES = [node_at(free_port(), name="main")]
    assert lookup().status is LookupStatus.UNAVAILABLE
    # …then back, at its real address: still skipped until the pause is over.
    settings.PACS_NODES = [dimse_node(pacs.main, name="main")]
    assert "failed moments ago" in lookup().reason
    time.sleep(1.1)
    probed = lookup()
    assert probed.status is LookupStatus.OK, probed.reason
    assert probed.studies
    assert lookup().status is LookupStatus.OK


def test_in_half_open_only_one_lookup_probes(breaker_on: None, settings: LazySettings) -> None:
    settings.PACS_BREAKER_SECONDS = 1
    breaker_record(NodeAnswer("chu", False, failure=Failure.TIMEOUT))
    assert breaker_check("chu") is not None  # open
    time.sleep(1.1)
    assert breaker_check("chu") is None  # this caller probes
    waiting = breaker_check("chu")  # another caller meanwhile: still skipped
    assert waiting is not None and waiting.failure is Failure.TIMEOUT
    breaker_record(NodeAnswer("chu", True))
    assert breaker_check("chu") is None


def test_an_answer_the_pacs_gave_does_not_open_the_breaker(breaker_on: None) -> None:
    breaker_record(NodeAnswer("chu", False, failure=Failure.FAILURE_STATUS, detail="0xC000"))
    assert breaker_check("chu") is None
