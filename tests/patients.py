"""Patient identifiers and names the tests use. None may ever reach a log in clear:
tests/test_log_scan.py reads the whole run's log for them."""

from __future__ import annotations

from pathlib import Path

import yaml

_DEMO = yaml.safe_load(
    (
        Path(__file__).resolve().parent.parent / "ordering" / "data" / "demo_patients.yaml"
    ).read_text()
)

# A synthetic INS whose key is valid (not a real person's).
TEST_INS = "185077512345608"

# Identifiers that tests of the audit trail and the permission matrix use.
OTHER_TEST_IDENTIFIERS = ["AUDITPAT01", "AUDITPAT02", "MATRIX01", "MATRIX02"]

# Patients who get a prior exam in the PACS between the decision and the signature.
NEW_PRIOR_PATIENTS = ["NEWPRIOR01", "NEWPRIOR02"]

# Patients of the RIS, worklist and FHIR write-back tests (tests/ris/: sign(), sign_later()).
RIS_TEST_PATIENTS = [f"TESTRIS{number:03d}" for number in range(1, 40)]

PATIENT_IDENTIFIERS: list[str] = [
    TEST_INS,
    *RIS_TEST_PATIENTS,
    *OTHER_TEST_IDENTIFIERS,
    *NEW_PRIOR_PATIENTS,
    *(p["id"] for p in _DEMO),
]
PATIENT_NAMES: list[str] = [
    *(p["name"].split("^")[0] for p in _DEMO),
    # The identity traits the order tests type (tests/world.py PATIENT_NAMES).
    "ESSAI-TESTNOM",
    "Testprénom",
]
