"""The words a GP reads on the decision page: the patient in one line (gendered in
French), when a slot is, and why an option ranks where it does, as a sentence."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone, translation

from ordering.ranking import RankedOption, RatedProcedure, SlotChoice
from ordering.templatetags.ordering_tags import iso_date, patient_line, rank_reason, wait_words

NBSP = "\u00a0"


def _item(slot_id: int, start: datetime, km: float, extra_fees: bool) -> dict[str, Any]:
    rated = RatedProcedure("us-breast", "indicated", 9, 0)
    slot = SlotChoice(slot_id, "us-breast", slot_id, start, 1.0, km, extra_fees)
    return {"ranked": RankedOption(rated, slot, 50.0, {"wait": -1.0}), "slot": None}


def test_the_patient_line_is_gendered_and_names_what_the_warnings_depend_on() -> None:
    woman = {"age_years": 67, "sex": "F", "pregnancy": "no", "egfr": 25.0, "weight_kg": 70.4}
    with translation.override("fr"):
        line = patient_line(woman)
        assert line.startswith("Femme de 67 ans")
        assert "DFG 25" in line and "70 kg" in line
        assert patient_line({"age_years": 40, "sex": "M", "pregnancy": "unknown"}).startswith(
            "Homme de 40 ans"
        )
    with translation.override("en"):
        assert patient_line(woman).startswith("Woman aged 67")


def test_a_slot_is_said_in_words_not_in_days_count() -> None:
    now = timezone.now()
    with translation.override("fr"):
        assert wait_words(now) == "aujourd’hui"
        assert wait_words(now + timedelta(days=1)) == "demain"
        assert wait_words(now + timedelta(days=3)) == "dans 3 jours"
        assert iso_date("1958-04-12") == "12 avril 1958"
    with translation.override("en"):
        assert wait_words(now + timedelta(days=3)) == "in 3 days"


def test_why_this_rank_is_a_sentence() -> None:
    soon = timezone.now() + timedelta(days=2)
    near = _item(1, soon, 4.0, extra_fees=False)
    far = _item(2, soon + timedelta(days=5), 30.0, extra_fees=True)
    with translation.override("fr"):
        sentence = rank_reason(near, [near, far])
        assert sentence.startswith("Centre le plus proche")
        assert "créneau le plus tôt (dans 2 jours)" in sentence
        assert "sans dépassement" in sentence
        other = rank_reason(far, [near, far])
        assert "proche" not in other and "dépassement possible" in other
    # French typography: a non-breaking space before each ";".
    assert f"{NBSP}; " in sentence and " ; " not in sentence


def test_a_redundant_exam_says_when_the_next_one_is_due() -> None:
    from datetime import date

    from ordering.templatetags.ordering_tags import due_on

    assert due_on({"performed_on": "2025-10-07", "interval_days": 730}) == date(2027, 10, 7)
    assert due_on({"performed_on": "not a date", "interval_days": 730}) is None
    assert due_on(None) is None
