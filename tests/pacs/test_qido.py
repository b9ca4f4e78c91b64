"""QIDO-RS study search against Orthanc's DICOMweb plugin: the C-FIND cases that apply."""

from __future__ import annotations

import time
from datetime import timedelta

from ordering.pacs.nodes import PacsNode
from ordering.pacs.qido import find_studies_qido
from ordering.pacs.query import Failure, StudyQuery
from tests.orthanc import free_port
from tests.pacs.conftest import (
    ALICE,
    CAPPED_PATIENT,
    GREEK,
    INS_OID,
    LATIN,
    TODAY,
    Pacs,
    SilentPeer,
    qido_node,
)


def soon(seconds: float = 2.0) -> float:
    return time.monotonic() + seconds


def two_years() -> StudyQuery:
    return StudyQuery(
        patient_id=ALICE, issuer=INS_OID, date_from=TODAY - timedelta(days=730), date_to=TODAY
    )


def test_it_finds_only_the_patients_own_studies_over_dicomweb(pacs: Pacs) -> None:
    answer = find_studies_qido(qido_node(pacs.main), two_years(), deadline=soon())
    assert answer.ok and not answer.capped
    descriptions = {study.description for study in answer.studies}
    assert len(answer.studies) == 6
    assert not {"EXAMEN DE BOB", "AUTRE PATIENT"} & descriptions
    angio = next(s for s in answer.studies if s.description == "ANGIOSCANNER THORACIQUE")
    assert angio.study_date == TODAY - timedelta(days=100)
    assert angio.modalities == ("CT",)


def test_it_honours_the_date_range_over_dicomweb(pacs: Pacs) -> None:
    query = StudyQuery(
        patient_id=ALICE,
        issuer=INS_OID,
        date_from=TODAY - timedelta(days=200),
        date_to=TODAY - timedelta(days=30),
    )
    answer = find_studies_qido(qido_node(pacs.main), query, deadline=soon())
    assert sorted((TODAY - s.study_date).days for s in answer.studies if s.study_date) == [
        30,
        50,
        100,
        200,
    ]


def test_it_filters_modalities_over_dicomweb(pacs: Pacs) -> None:
    one = StudyQuery(patient_id=ALICE, issuer=INS_OID, modalities=frozenset({"CT"}))
    answer = find_studies_qido(qido_node(pacs.main), one, deadline=soon())
    assert {s.modalities for s in answer.studies} == {("CT",)}
    several = StudyQuery(patient_id=ALICE, issuer=INS_OID, modalities=frozenset({"MR", "US"}))
    answer = find_studies_qido(qido_node(pacs.main), several, deadline=soon())
    assert sorted(s.modalities[0] for s in answer.studies) == ["MR", "US"]


def test_it_says_when_answers_reach_the_known_cap_over_dicomweb(pacs: Pacs) -> None:
    node = qido_node(pacs.capped, "capped-web", max_answers=3)
    answer = find_studies_qido(node, StudyQuery(patient_id=CAPPED_PATIENT), deadline=soon())
    assert answer.ok and answer.capped
    assert len(answer.studies) == 3


def test_it_reads_non_latin_and_latin_1_text_over_dicomweb(pacs: Pacs) -> None:
    greek = find_studies_qido(qido_node(pacs.main), StudyQuery(patient_id=GREEK), deadline=soon())
    assert [s.description for s in greek.studies] == ["Αξονική τομογραφία θώρακα"]
    latin = find_studies_qido(qido_node(pacs.capped), StudyQuery(patient_id=LATIN), deadline=soon())
    assert [s.description for s in latin.studies] == ["ÉCHOGRAPHIE DE L'ÉPAULE"]


def test_a_dicomweb_server_that_is_down_is_unreachable() -> None:
    down = PacsNode(
        "down",
        "",
        0,
        "",
        "IMAGINGCDS",
        transport="dicomweb",
        url=f"http://127.0.0.1:{free_port()}/dicom-web",
    )
    answer = find_studies_qido(down, two_years(), deadline=soon())
    assert answer.failure is Failure.UNREACHABLE


def test_a_wrong_dicomweb_root_is_an_http_error_not_an_empty_answer(pacs: Pacs) -> None:
    node = qido_node(pacs.main, url=f"{pacs.main.url}/not-dicom-web")
    answer = find_studies_qido(node, two_years(), deadline=soon())
    assert not answer.ok
    assert answer.failure is Failure.HTTP_STATUS
    assert answer.detail == "HTTP 404"


def test_a_dicomweb_server_that_never_answers_times_out_within_budget(
    silent_peer: SilentPeer,
) -> None:
    node = PacsNode("silent", "", 0, "", "IMAGINGCDS", transport="dicomweb", url=silent_peer.url)
    started = time.monotonic()
    answer = find_studies_qido(node, two_years(), deadline=soon(0.8))
    assert answer.failure is Failure.TIMEOUT
    assert time.monotonic() - started < 1.3
