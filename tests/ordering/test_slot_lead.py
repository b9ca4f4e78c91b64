"""No slot minutes away comes first: each exam is searched from an earliest start that
its rule's priority gives (ordering.decision.exam_not_before)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from ordering.decision import OptionFilters, consultation_options, exam_not_before
from ordering.record import ConsultationRecord
from tests.ordering.test_flow import alice, consultation_of, start  # noqa: F401
from tests.world import FlowPacs

PARIS = ZoneInfo("Europe/Paris")


def test_an_urgent_exam_waits_an_hour_a_routine_one_two_and_a_screening_one_a_day() -> None:
    now = datetime(2026, 12, 1, 23, 30, tzinfo=PARIS)
    assert exam_not_before("urgent", now) == now + timedelta(hours=1)
    assert exam_not_before("within_week", now) == now + timedelta(hours=2)
    assert exam_not_before(None, now) == now + timedelta(hours=2)
    # Tomorrow in the territory's time zone, not in UTC.
    assert exam_not_before("within_weeks", now) == datetime(2026, 12, 2, tzinfo=PARIS)


@pytest.mark.parametrize("indication", ["breast-lump", "breast-screening-average-risk"])
def test_every_slot_offered_starts_after_its_exams_earliest_start(
    alice: Client,  # noqa: F811
    world: FlowPacs,
    indication: str,
) -> None:
    consultation = consultation_of(start(alice, indication, birth_date="1960-03-01"))
    record = ConsultationRecord(consultation)
    now = timezone.now()
    options = consultation_options(consultation, OptionFilters(), now=now)
    assert options.availability is not None and options.availability.options
    for option in options.availability.options:
        priority = (record.rating(option.procedure_code) or {}).get("priority")
        assert option.start >= exam_not_before(priority, now), option.procedure_code
