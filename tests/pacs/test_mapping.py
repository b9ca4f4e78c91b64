"""Mapping studies to catalogue procedures, and the dose estimate: plain functions."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from guidelines.catalogue import CATALOGUE_FILE
from ordering.pacs.query import StudyQuery, StudyRecord, parse_da, record_from_answer
from ordering.prior_dose import DoseItem, dose_estimate
from ordering.prior_mapping import CatalogueProcedure, study_map

TODAY = date(2025, 6, 15)


@pytest.fixture(scope="module")
def catalogue() -> list[CatalogueProcedure]:
    import yaml

    rows = yaml.safe_load(CATALOGUE_FILE.read_text(encoding="utf-8"))
    return [
        CatalogueProcedure(
            row["code"], row["modality"], row["body_region"], row["contrast"], row["dose_class"]
        )
        for row in rows
    ]


def study(modalities: tuple[str, ...], description: str, body_part: str = "") -> StudyRecord:
    return StudyRecord("1.2.3", TODAY, description, modalities, body_part=body_part)


@pytest.mark.parametrize(
    ("modalities", "description", "body_part", "code"),
    [
        (("CT",), "SCANNER CEREBRAL SANS INJECTION", "HEAD", "ct-head"),
        (("CT",), "Scanner cérébral", "", "ct-head"),
        (("CT",), "ANGIOSCANNER THORACIQUE", "CHEST", "ct-pulmonary-angio"),
        (("CT",), "SCANNER ABDOMINO-PELVIEN INJECTE", "ABDOMEN", "ct-abdomen-pelvis-contrast"),
        (("CT", "SR"), "TDM THORAX SANS INJECTION", "", "ct-chest"),
        (("DX",), "RADIOGRAPHIE THORAX FACE", "CHEST", "dx-chest"),
        (("CR",), "RACHIS LOMBAIRE FACE PROFIL", "LSPINE", "dx-lumbar-spine"),
        (("MR",), "IRM RACHIS LOMBAIRE", "LSPINE", "mr-lumbar-spine"),
        (("MR",), "IRM ENCEPHALIQUE AVEC GADOLINIUM", "BRAIN", "mr-brain-gadolinium"),
        (("MR",), "MRI KNEE", "", "mr-knee"),
        (("US",), "ECHOGRAPHIE PELVIENNE", "PELVIS", "us-pelvis"),
        (("US",), "ECHOGRAPHIE CERVICALE ET THYROIDIENNE", "", "us-neck-thyroid"),
        (("US",), "ECHO-DOPPLER VEINEUX MEMBRES INFERIEURS", "LEG", "us-leg-veins"),
        (("MG",), "MAMMOGRAPHIE BILATERALE", "BREAST", "mg-breast"),
        (("MG",), "DEPISTAGE", "", "mg-breast"),
        (("NM",), "SCINTIGRAPHIE OSSEUSE", "WHOLEBODY", "nm-bone-scan"),
        (("NM",), "SCINTIGRAPHIE PULMONAIRE VENTILATION PERFUSION", "", "nm-lung-vq"),
    ],
)
def test_it_maps_usual_descriptions_to_the_right_procedure(
    catalogue: list[CatalogueProcedure],
    modalities: tuple[str, ...],
    description: str,
    body_part: str,
    code: str,
) -> None:
    mapping = study_map(study(modalities, description, body_part), catalogue)
    assert mapping.procedure is not None
    assert mapping.procedure.code == code
    assert 0 < mapping.confidence <= 1


def test_agreement_of_body_part_and_description_is_trusted_most(
    catalogue: list[CatalogueProcedure],
) -> None:
    both = study_map(study(("CT",), "SCANNER CEREBRAL SANS INJECTION", "HEAD"), catalogue)
    text_only = study_map(study(("CT",), "SCANNER CEREBRAL SANS INJECTION"), catalogue)
    disagree = study_map(study(("CT",), "SCANNER CEREBRAL SANS INJECTION", "CHEST"), catalogue)
    assert both.confidence > text_only.confidence > disagree.confidence > 0


def test_what_it_cannot_read_stays_unmapped(catalogue: list[CatalogueProcedure]) -> None:
    for record in (
        study(("CT",), "SCANNER DES SINUS", "SINUS"),
        study(("PT", "CT"), "TEP FDG CORPS ENTIER"),  # no PET procedure in the catalogue
        study(("SR",), "RAPPORT DE DOSE"),
        study((), ""),
    ):
        mapping = study_map(record, catalogue)
        assert mapping.procedure is None and mapping.confidence == 0.0


def test_the_dose_range_adds_class_bounds_over_12_months() -> None:
    items = [
        DoseItem("1", TODAY - timedelta(days=10), "CT", "ct head", 2),
        DoseItem("2", TODAY - timedelta(days=364), "CT", "ct chest", 3),
        DoseItem("3", TODAY - timedelta(days=366), "CT", "too old", 4),
        DoseItem("4", TODAY - timedelta(days=40), "US", "unmapped ultrasound", None),
    ]
    dose = dose_estimate(items, today=TODAY, all_sources_answered=True)
    assert (dose.low_msv, dose.high_msv) == (6.0, 15.0)
    assert [item.study_uid for item in dose.counted] == ["1", "2"]
    assert dose.unmapped == () and dose.complete


def test_a_class_iv_exam_leaves_the_range_open() -> None:
    items = [DoseItem("1", TODAY, "CT", "big", 4), DoseItem("2", TODAY, "DX", "small", 1)]
    dose = dose_estimate(items, today=TODAY, all_sources_answered=True)
    assert (dose.low_msv, dose.high_msv) == (10.0, None)


def test_undated_ionising_studies_are_listed_as_not_counted() -> None:
    items = [DoseItem("1", None, "CT", "undated ct", 2)]
    dose = dose_estimate(items, today=TODAY, all_sources_answered=True)
    assert dose.counted == () and len(dose.unmapped) == 1
    assert not dose.complete


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20250131", date(2025, 1, 31)),
        ("2025.01.31", date(2025, 1, 31)),
        ("", None),
        ("2025", None),
        ("20251340", None),
        ("abcdefgh", None),
    ],
)
def test_odd_dates_are_read_or_dropped_never_raised(text: str, expected: date | None) -> None:
    assert parse_da(text) == expected


def test_answers_for_another_patient_or_issuer_are_dropped() -> None:
    from pydicom.dataset import Dataset

    query = StudyQuery(patient_id="P1", issuer="ISS")
    answer = Dataset()
    answer.StudyInstanceUID = "1.2.3"
    answer.PatientID = "P1"
    answer.IssuerOfPatientID = "ISS"
    answer.ModalitiesInStudy = ["CT", "SR"]
    assert record_from_answer(answer, query, "n") is not None
    answer.IssuerOfPatientID = "OTHER"
    assert record_from_answer(answer, query, "n") is None
    answer.IssuerOfPatientID = "ISS"
    answer.PatientID = "P10"  # a PACS that matched loosely
    assert record_from_answer(answer, query, "n") is None


@pytest.mark.filterwarnings("ignore:Unknown encoding")
def test_an_answer_in_an_unknown_character_set_is_still_read() -> None:
    from io import BytesIO

    from pydicom import dcmread
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    source = Dataset()
    source.SpecificCharacterSet = "ISO_IR 999"
    source.StudyInstanceUID = "1.2.3"
    source.StudyDate = "20250101"
    source.StudyDescription = "ECHOGRAPHIE"
    source.file_meta = FileMetaDataset()
    source.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    buffer = BytesIO()
    source.save_as(buffer)
    raw = bytearray(buffer.getvalue())
    # Put a byte that is invalid in any single-byte reading of the declared set.
    raw[raw.index(b"ECHOGRAPHIE")] = 0xC9
    answer = dcmread(BytesIO(bytes(raw)), force=True)
    record = record_from_answer(answer, StudyQuery(patient_id="P1"), "n")
    assert record is not None
    assert record.study_date == date(2025, 1, 1)
    assert record.description.endswith("CHOGRAPHIE")
