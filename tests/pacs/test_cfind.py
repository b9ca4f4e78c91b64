"""C-FIND (Study Root, STUDY level) against real Orthanc instances."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from ordering.pacs.dimse import find_studies
from ordering.pacs.query import Failure, StudyQuery
from tests.orthanc import OrthancServer, free_port, self_signed_certificate, study_file
from tests.pacs.conftest import (
    ALICE,
    BOB,
    CAPPED_PATIENT,
    GREEK,
    INS_OID,
    LATIN,
    TODAY,
    UNDATED,
    Pacs,
    SilentPeer,
    ago,
    dimse_node,
    node_at,
)


def soon(seconds: float = 2.0) -> float:
    return time.monotonic() + seconds


def two_years() -> StudyQuery:
    return StudyQuery(
        patient_id=ALICE, issuer=INS_OID, date_from=TODAY - timedelta(days=730), date_to=TODAY
    )


def test_it_finds_only_the_patients_own_studies(pacs: Pacs) -> None:
    answer = find_studies(dimse_node(pacs.main), two_years(), deadline=soon())
    assert answer.ok and not answer.capped and answer.failure is None
    descriptions = {study.description for study in answer.studies}
    assert len(answer.studies) == 6
    assert "EXAMEN DE BOB" not in descriptions
    # The same number under another issuer is another patient.
    assert "AUTRE PATIENT" not in descriptions


def test_it_returns_the_study_attributes_the_pacs_holds(pacs: Pacs) -> None:
    answer = find_studies(dimse_node(pacs.main), two_years(), deadline=soon())
    angio = next(s for s in answer.studies if s.description == "ANGIOSCANNER THORACIQUE")
    assert angio.study_date == TODAY - timedelta(days=100)
    assert angio.modalities == ("CT",)
    assert angio.accession_number.startswith("A")
    assert len(angio.study_uid) > 10
    assert angio.node == "main"
    assert angio.institution == "CHU Rennes"
    assert angio.body_part == "CHEST"


def test_it_honours_the_date_range_inclusively(pacs: Pacs) -> None:
    query = StudyQuery(
        patient_id=ALICE,
        issuer=INS_OID,
        date_from=TODAY - timedelta(days=200),
        date_to=TODAY - timedelta(days=30),
    )
    answer = find_studies(dimse_node(pacs.main), query, deadline=soon())
    assert answer.ok
    assert sorted((TODAY - s.study_date).days for s in answer.studies if s.study_date) == [
        30,
        50,
        100,
        200,
    ]


def test_it_filters_on_one_modality_at_the_pacs(pacs: Pacs) -> None:
    query = StudyQuery(patient_id=ALICE, issuer=INS_OID, modalities=frozenset({"CT"}))
    answer = find_studies(dimse_node(pacs.main), query, deadline=soon())
    assert answer.ok
    assert {s.modalities for s in answer.studies} == {("CT",)}
    assert len(answer.studies) == 3


def test_it_filters_several_modalities_on_its_own_side(pacs: Pacs) -> None:
    # Several modalities are not sent as a key (PACS disagree on list matching):
    # every study comes back and our side keeps the wanted ones.
    query = StudyQuery(patient_id=ALICE, issuer=INS_OID, modalities=frozenset({"MR", "US"}))
    answer = find_studies(dimse_node(pacs.main), query, deadline=soon())
    assert answer.ok
    assert sorted(s.modalities[0] for s in answer.studies) == ["MR", "US"]
    assert answer.filtered_out == 4


def test_it_says_when_the_pacs_capped_its_answers(pacs: Pacs) -> None:
    query = StudyQuery(patient_id=CAPPED_PATIENT, issuer=INS_OID)
    answer = find_studies(dimse_node(pacs.capped, "capped"), query, deadline=soon())
    assert answer.ok
    assert answer.capped
    assert len(answer.studies) == 3


def test_a_known_cap_is_reported_even_when_the_pacs_says_success(pacs: Pacs) -> None:
    query = StudyQuery(patient_id=BOB, issuer=INS_OID)
    answer = find_studies(dimse_node(pacs.main, max_answers=3), query, deadline=soon())
    assert answer.ok and answer.capped and len(answer.studies) == 3


def test_it_decodes_answers_in_latin_1(pacs: Pacs) -> None:
    answer = find_studies(
        dimse_node(pacs.capped, "capped"), StudyQuery(patient_id=LATIN), deadline=soon()
    )
    assert answer.ok
    (study,) = answer.studies
    assert study.description == "ÉCHOGRAPHIE DE L'ÉPAULE"


def test_it_decodes_answers_in_utf_8_with_non_latin_text(pacs: Pacs) -> None:
    answer = find_studies(dimse_node(pacs.main), StudyQuery(patient_id=GREEK), deadline=soon())
    assert answer.ok
    (study,) = answer.studies
    assert study.description == "Αξονική τομογραφία θώρακα"


def test_a_study_without_a_date_is_kept_without_one(pacs: Pacs) -> None:
    answer = find_studies(dimse_node(pacs.main), StudyQuery(patient_id=UNDATED), deadline=soon())
    assert answer.ok
    (study,) = answer.studies
    assert study.study_date is None
    assert study.description == "RADIO SANS DATE"


def test_a_wrong_called_ae_title_is_rejected(pacs: Pacs) -> None:
    node = dimse_node(pacs.main, called_aet="NOTMAINPACS")
    answer = find_studies(node, two_years(), deadline=soon())
    assert not answer.ok
    assert answer.failure is Failure.REJECTED
    assert answer.studies == ()


def test_a_port_nobody_listens_on_is_unreachable_at_once() -> None:
    node = node_at(free_port())
    started = time.monotonic()
    answer = find_studies(node, two_years(), deadline=soon())
    assert answer.failure is Failure.UNREACHABLE
    assert time.monotonic() - started < 1.0


def test_a_pacs_that_was_stopped_is_reported_unreachable() -> None:
    server = OrthancServer(aet="STOPPED", dicomweb=False).start()
    try:
        server.upload(
            study_file(patient_id=ALICE, issuer=INS_OID, study_date=ago(3), modality="CT")
        )
        node = dimse_node(server, "stopped")
        assert find_studies(node, two_years(), deadline=soon()).ok
        server.stop()
        answer = find_studies(node, two_years(), deadline=soon())
    finally:
        server.cleanup()
    assert not answer.ok
    assert answer.failure is Failure.UNREACHABLE


def test_a_pacs_that_accepts_but_never_answers_times_out_within_budget(
    silent_peer: SilentPeer,
) -> None:
    node = node_at(silent_peer.port, "SILENT", "silent")
    started = time.monotonic()
    answer = find_studies(node, two_years(), deadline=soon(0.8))
    elapsed = time.monotonic() - started
    assert not answer.ok
    assert answer.failure is Failure.TIMEOUT
    assert 0.6 < elapsed < 1.3
    assert silent_peer.accepted, "the peer did accept the TCP connection"


def test_no_time_left_means_no_query_at_all(pacs: Pacs) -> None:
    answer = find_studies(dimse_node(pacs.main), two_years(), deadline=time.monotonic() - 1)
    assert answer.failure is Failure.TIMEOUT


def _peer_answering(statuses: list[int], *, stall: float = 0.0) -> tuple[object, int]:
    """A real pynetdicom SCP that answers one study, then each of ``statuses``."""
    from pydicom.dataset import Dataset
    from pynetdicom import evt

    from ordering.pacs.scp import demo_ae

    def handle(event: evt.Event) -> object:
        time.sleep(stall)
        study = Dataset()
        study.SpecificCharacterSet = "ISO_IR 192"
        study.QueryRetrieveLevel = "STUDY"
        study.PatientID = ALICE
        study.StudyInstanceUID = "1.2.3.4"
        study.StudyDate = ago(3)
        study.ModalitiesInStudy = "CT"
        yield 0xFF00, study
        for status in statuses:
            yield status, None

    port = free_port()
    server = demo_ae("ODDPACS").start_server(
        ("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_FIND, handle)]
    )
    return server, port


def test_a_failure_status_after_answers_fails_the_whole_query() -> None:
    server, port = _peer_answering([0xC000])
    try:
        answer = find_studies(node_at(port, "ODDPACS"), two_years(), deadline=soon())
    finally:
        server.shutdown()  # type: ignore[attr-defined]
    assert not answer.ok
    assert answer.failure is Failure.FAILURE_STATUS and answer.detail == "0xC000"
    # What came before the failure is not offered as a (partial) truth.
    assert answer.studies == ()


def test_an_out_of_resources_status_is_a_failure_not_a_cap() -> None:
    server, port = _peer_answering([0xA700])
    try:
        answer = find_studies(node_at(port, "ODDPACS"), two_years(), deadline=soon())
    finally:
        server.shutdown()  # type: ignore[attr-defined]
    assert answer.failure is Failure.FAILURE_STATUS and answer.detail == "0xA700"


def test_a_pacs_that_sends_answers_and_success_is_read_whole() -> None:
    server, port = _peer_answering([])
    try:
        answer = find_studies(node_at(port, "ODDPACS"), two_years(), deadline=soon())
    finally:
        server.shutdown()  # type: ignore[attr-defined]
    assert answer.ok and [s.study_uid for s in answer.studies] == ["1.2.3.4"]


def test_it_queries_a_pacs_over_dicom_tls_and_refuses_an_untrusted_one(
    tmp_path: Path,
) -> None:
    cert, key = self_signed_certificate(tmp_path)
    server = OrthancServer(aet="TLSPACS", dicomweb=False, tls_cert=cert, tls_key=key).start()
    try:
        server.upload(
            study_file(patient_id=ALICE, issuer=INS_OID, study_date=ago(3), modality="CT")
        )
        trusted = dimse_node(server, "tls", tls=True, tls_ca_file=str(cert))
        answer = find_studies(trusted, two_years(), deadline=soon())
        assert answer.ok and len(answer.studies) == 1
        untrusted = find_studies(replace(trusted, tls_ca_file=""), two_years(), deadline=soon())
        plain = find_studies(replace(trusted, tls=False), two_years(), deadline=soon())
    finally:
        server.cleanup()
    assert untrusted.failure is Failure.TLS
    assert not plain.ok


def test_a_pacs_that_accepts_the_association_but_stalls_on_the_query_times_out() -> None:
    server, port = _peer_answering([], stall=3.0)
    started = time.monotonic()
    try:
        answer = find_studies(node_at(port, "ODDPACS"), two_years(), deadline=soon(0.8))
        elapsed = time.monotonic() - started
    finally:
        server.shutdown()  # type: ignore[attr-defined]
    assert answer.failure is Failure.TIMEOUT
    assert elapsed < 1.3
