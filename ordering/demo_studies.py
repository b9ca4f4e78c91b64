"""The demo PACS's content: the demo patients' studies as DICOM study records."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

DEMO_PATIENTS_FILE = Path(__file__).parent / "data" / "demo_patients.yaml"
DEMO_ISSUER = "IMAGING-CDS-DEMO"


def demo_study_datasets(*, today: date, path: Path = DEMO_PATIENTS_FILE) -> list[Dataset]:
    """One STUDY-level dataset per demo study, dated back from ``today``.

    UIDs and accession numbers are derived from the patient and the study's rank,
    so a restarted demo PACS answers the same studies.
    """
    patients: list[dict[str, Any]] = yaml.safe_load(path.read_text(encoding="utf-8"))
    studies = []
    for patient in patients:
        for rank, study in enumerate(patient.get("studies") or []):
            ds = Dataset()
            ds.SpecificCharacterSet = "ISO_IR 192"
            ds.PatientID = patient["id"]
            ds.IssuerOfPatientID = DEMO_ISSUER
            ds.PatientName = patient["name"]
            ds.PatientBirthDate = str(patient["birth_date"]).replace("-", "")
            ds.PatientSex = patient["sex"]
            ds.StudyInstanceUID = generate_uid(
                entropy_srcs=["imaging-cds-demo", patient["id"], str(rank)]
            )
            ds.StudyDate = (today - timedelta(days=int(study["days_ago"]))).strftime("%Y%m%d")
            ds.StudyTime = "093000"
            ds.AccessionNumber = f"D{patient['id'][-4:]}{rank:02d}"
            ds.ModalitiesInStudy = study["modality"]
            ds.StudyDescription = study["description"]
            ds.BodyPartExamined = study.get("body_part", "")
            ds.InstitutionName = study.get("institution", "")
            studies.append(ds)
    return studies
