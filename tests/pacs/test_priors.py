"""priors_lookup, the decision stage: several PACS, mapping, dose, cache, faults."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
import redis
from django.conf import LazySettings
from django.test import Client
from django.utils import translation

from imaging_cds.pseudonym import pseudonymise
from ordering.priors import LookupStatus, PriorLookup, priors_lookup
from tests.orthanc import free_port
from tests.pacs.conftest import (
    ALICE,
    CAPPED_PATIENT,
    INS_OID,
    SHARED_UID,
    TODAY,
    Pacs,
    SilentPeer,
    dimse_node,
    node_at,
    qido_node,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def french() -> Iterator[None]:
    with translation.override("fr"):
        yield


@pytest.fixture
def english() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.fixture
def one_pacs(settings: LazySettings, pacs: Pacs, catalogue: None, clear_cache: None) -> None:
    settings.PACS_NODES = [dimse_node(pacs.main)]
    settings.PACS_TIMEOUT_SECONDS = 2.0


def lookup(*, force_refresh: bool = False) -> PriorLookup:
    return priors_lookup(patient_id=ALICE, issuer=INS_OID, today=TODAY, force_refresh=force_refresh)


def test_it_maps_each_prior_to_a_catalogue_procedure(one_pacs: None) -> None:
    result = lookup()
    assert result.status is LookupStatus.OK and result.reason == ""
    by_description = {fact.description: fact for fact in result.facts}
    head = by_description["SCANNER CEREBRAL SANS INJECTION"]
    assert head.procedure_code == "ct-head" and head.confidence >= 0.9
    assert head.performed_on.isoformat() == "2025-05-16"
    assert head.institution == "CHU Rennes"
    assert by_description["ANGIOSCANNER THORACIQUE"].procedure_code == "ct-pulmonary-angio"
    assert by_description["IRM DU GENOU DROIT"].procedure_code == "mr-knee"
    assert by_description["RADIOGRAPHIE THORAX FACE"].procedure_code == "dx-chest"
    assert by_description["ECHOGRAPHIE ABDOMINALE"].procedure_code == "us-abdomen"
    sinus = by_description["SCANNER DES SINUS"]
    assert sinus.procedure_code is None and sinus.confidence == 0.0
    # Newest first: the engine and the page read them in that order.
    dates = [fact.performed_on for fact in result.facts]
    assert dates == sorted(dates, reverse=True)


def test_it_estimates_the_dose_of_the_last_12_months_with_its_basis(
    one_pacs: None, english: None
) -> None:
    dose = lookup().dose
    assert dose is not None
    # ct-head (II 1–5) + ct-pulmonary-angio (III 5–10); MR knee costs nothing;
    # the sinus CT is unmapped; the chest film is 400 days old.
    assert (dose.low_msv, dose.high_msv) == (6.0, 15.0)
    assert [item.description for item in dose.unmapped] == ["SCANNER DES SINUS"]
    assert not dose.complete
    assert dose.range_text() == "6 to 15 mSv"
    assert "1 ionising exam could not be identified" in dose.basis()
    assert "SCANNER DES SINUS" in dose.basis()


def test_it_merges_two_pacs_without_duplicates(
    settings: LazySettings, pacs: Pacs, catalogue: None, clear_cache: None
) -> None:
    settings.PACS_NODES = [dimse_node(pacs.main), dimse_node(pacs.second, "second")]
    result = lookup()
    assert result.status is LookupStatus.OK
    uids = [study.record.study_uid for study in result.studies]
    assert len(uids) == len(set(uids)) == 7
    assert uids.count(SHARED_UID) == 1
    assert [node.studies for node in result.nodes] == [6, 2]
    assert "IRM CEREBRALE" in {fact.description for fact in result.facts}


def test_it_merges_a_dimse_pacs_with_a_dicomweb_one(
    settings: LazySettings, pacs: Pacs, catalogue: None, clear_cache: None
) -> None:
    settings.PACS_NODES = [dimse_node(pacs.main), qido_node(pacs.second, "second-web")]
    result = lookup()
    assert result.status is LookupStatus.OK
    assert len(result.studies) == 7


def test_a_pacs_that_is_down_gives_a_visible_unavailable_status_in_french(
    settings: LazySettings, catalogue: None, clear_cache: None, french: None
) -> None:
    settings.PACS_NODES = [node_at(free_port(), name="chu")]
    result = lookup()
    assert result.status is LookupStatus.UNAVAILABLE
    assert not result.available
    assert result.reason == "antécédents d'imagerie indisponibles : le PACS est injoignable"
    assert result.studies == () and result.dose is None


def test_a_wrong_ae_title_is_named_as_the_reason(
    settings: LazySettings, pacs: Pacs, catalogue: None, clear_cache: None, english: None
) -> None:
    settings.PACS_NODES = [dimse_node(pacs.main, called_aet="WRONG")]
    result = lookup()
    assert result.status is LookupStatus.UNAVAILABLE
    assert result.reason == (
        "prior exams unavailable: the PACS refused the connection (check the AE titles)"
    )


def test_a_silent_pacs_gives_a_partial_answer_within_the_budget(
    settings: LazySettings,
    pacs: Pacs,
    catalogue: None,
    clear_cache: None,
    silent_peer: SilentPeer,
    english: None,
) -> None:
    settings.PACS_TIMEOUT_SECONDS = 1.0
    settings.PACS_NODES = [
        dimse_node(pacs.main),
        # Its own timeouts are longer than the budget: the budget wins.
        replace(
            node_at(silent_peer.port, "SILENT", "slow"),
            acse_timeout=30.0,
            dimse_timeout=30.0,
            network_timeout=30.0,
        ),
    ]
    started = time.monotonic()
    result = lookup()
    assert time.monotonic() - started < 1.5
    assert result.status is LookupStatus.PARTIAL
    assert result.reason == (
        "prior exams partly unavailable: slow: the PACS did not answer in time"
    )
    assert len(result.studies) == 6
    assert result.dose is not None and not result.dose.all_sources_answered
    assert [node.ok for node in result.nodes] == [True, False]


def test_a_capped_answer_is_flagged(
    settings: LazySettings, pacs: Pacs, catalogue: None, clear_cache: None
) -> None:
    settings.PACS_NODES = [dimse_node(pacs.capped, "capped")]
    result = priors_lookup(patient_id=CAPPED_PATIENT, issuer=INS_OID, today=TODAY)
    assert result.status is LookupStatus.OK
    assert result.capped and result.nodes[0].capped
    assert len(result.studies) == 3


def test_it_caches_per_patient_under_a_pseudonymous_key(one_pacs: None, redis_url: str) -> None:
    first = lookup()
    assert not first.from_cache
    second = lookup()
    assert second.from_cache
    assert second.facts == first.facts
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    keys = [str(key) for key in client.keys("*pacs-priors*")]
    assert len(keys) == 1
    assert ALICE not in keys[0]
    assert pseudonymise(f"{INS_OID}|{ALICE}") in keys[0]


def test_a_forced_refresh_asks_the_pacs_again(
    settings: LazySettings, pacs: Pacs, one_pacs: None
) -> None:
    lookup()
    # The PACS went away since the cached answer: a forced refresh must notice.
    settings.PACS_NODES = [dimse_node(pacs.main, port=free_port())]
    assert lookup(force_refresh=True).status is LookupStatus.UNAVAILABLE


def test_a_failed_lookup_is_not_cached(
    settings: LazySettings, pacs: Pacs, catalogue: None, clear_cache: None
) -> None:
    settings.PACS_NODES = [dimse_node(pacs.main, called_aet="WRONG")]
    assert lookup().status is LookupStatus.UNAVAILABLE
    again = lookup()
    assert not again.from_cache


def test_a_cache_that_is_down_costs_a_fresh_query_not_the_answer(
    settings: LazySettings, pacs: Pacs, catalogue: None
) -> None:
    from django.test import override_settings

    settings.PACS_NODES = [dimse_node(pacs.main)]
    dead = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    with override_settings(CACHES=dead):
        result = lookup()
    assert result.status is LookupStatus.OK and len(result.studies) == 6


def test_an_identifier_with_wildcards_is_never_sent(one_pacs: None) -> None:
    result = priors_lookup(patient_id="12345*", issuer=None, today=TODAY)
    assert result.status is LookupStatus.UNAVAILABLE
    assert result.nodes == ()


def test_the_patient_identifier_is_never_logged(
    one_pacs: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    lookup()
    assert caplog.records, "the lookup logs something"
    assert ALICE not in caplog.text
    # pynetdicom prints whole identifiers at INFO: the settings keep it above that.
    assert not logging.getLogger("pynetdicom").isEnabledFor(logging.INFO)


def test_healthz_checks_every_declared_node_by_its_own_transport(
    settings: LazySettings, pacs: Pacs, client: Client, redis_url: str
) -> None:
    settings.PACS_NODES = [
        dimse_node(pacs.main),
        qido_node(pacs.second, "second-web"),
        node_at(free_port(), name="gone"),
    ]
    parts = client.get("/healthz").json()["parts"]
    assert parts["pacs:main"]["ok"] and parts["pacs:main"]["detail"] == "echo ok"
    assert parts["pacs:second-web"]["ok"] and parts["pacs:second-web"]["detail"] == "http ok"
    assert parts["pacs:gone"]["ok"] is False


def test_a_modality_scoped_lookup_does_not_stand_in_for_a_full_one(one_pacs: None) -> None:
    only_mr = priors_lookup(
        patient_id=ALICE, issuer=INS_OID, today=TODAY, modalities=frozenset({"MR"})
    )
    assert [fact.modality for fact in only_mr.facts] == ["MR"]
    everything = lookup()
    assert not everything.from_cache
    assert len(everything.studies) == 6
