"""Runs last (see conftest): no patient identifier or name reached the logs of this run."""

from __future__ import annotations

import pytest

from tests.conftest import RUN_LOG
from tests.patients import PATIENT_IDENTIFIERS, PATIENT_NAMES


@pytest.mark.log_scan
def test_no_patient_identifier_or_name_appears_in_the_logs_of_the_whole_run() -> None:
    import logging

    for handler in logging.getLogger().handlers:
        handler.flush()
    text = RUN_LOG.read_text(encoding="utf-8", errors="replace")
    assert text, "the run log is empty: the log capture is not working"
    leaked = [value for value in PATIENT_IDENTIFIERS + PATIENT_NAMES if value in text]
    assert not leaked, f"patient data in clear in {RUN_LOG}: {leaked}"
