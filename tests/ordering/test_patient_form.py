from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from ordering.contract import age_in_years, ins_is_valid
from ordering.forms import PatientForm

VALID = {
    "identifier_kind": "ins",
    "identifier": "185077512345608",
    "birth_date": "1985-07-14",
    "sex": "M",
    "postcode": "35000",
    "pregnancy": "no",
    "weight_kg": "80",
    "egfr": "90",
    "birth_name": "ESSAI",
    "given_names": "Camille",
}


def form(**changes: str) -> PatientForm:
    return PatientForm(data={**VALID, **changes})


def test_a_complete_valid_patient_passes() -> None:
    assert form().is_valid(), form().errors


def test_the_ins_key_is_checked() -> None:
    assert ins_is_valid("185077512345608")
    assert not ins_is_valid("185077512345609")
    assert "identifier" in form(identifier="185077512345609").errors


def test_a_local_identifier_is_accepted_when_declared_as_such() -> None:
    assert form(identifier_kind="local", identifier="DEMO000001").is_valid()
    assert "identifier" in form(identifier_kind="local", identifier="x").errors


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("birth_date", (timezone.localdate() + timedelta(days=1)).isoformat()),
        ("birth_date", "1850-01-01"),
        ("birth_date", "not a date"),
        ("postcode", "3500"),
        ("postcode", "ABCDE"),
        ("weight_kg", "0"),
        ("weight_kg", "900"),
        ("egfr", "-3"),
        ("egfr", "lots"),
        ("sex", "X"),
        ("pregnancy", "perhaps"),
    ],
)
def test_each_bad_value_is_refused_on_its_own_field(field: str, value: str) -> None:
    bad = form(**{field: value})
    assert not bad.is_valid()
    assert field in bad.errors


def test_a_male_patient_cannot_be_pregnant() -> None:
    bad = form(sex="M", pregnancy="yes")
    assert "pregnancy" in bad.errors


def test_age_counts_whole_years_to_the_birthday() -> None:
    assert age_in_years(date(2000, 11, 24), date(2026, 11, 23)) == 25
    assert age_in_years(date(2000, 11, 23), date(2026, 11, 23)) == 26
