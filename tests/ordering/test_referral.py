"""An urgent exam that nothing can be booked for sends the patient to the emergency
department: the rule (ordering.decision.referral_needed) and the prescriber's page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from ordering.decision import EMERGENCY_DEPARTMENT, referral_needed
from ordering.models import Consultation
from ordering.ranking import Ranking, RatedProcedure, SlotChoice, Weights, rank_options
from ordering.record import ConsultationRecord
from scheduling.cache import cache_write_centres
from scheduling.models import Centre, Slot, SlotStatus
from tests.actors import Actors
from tests.ordering.test_flow import consultation_of, start
from tests.world import FlowPacs

SCORES = {"indicated": 8, "special_cases": 6, "not_indicated": 2, "contraindicated": 1}


def rating(code: str, category: str, priority: str, *conditions: str) -> dict[str, Any]:
    return {
        "procedure_code": code,
        "category": category,
        "score": SCORES[category],
        "priority": priority,
        "matched_conditions": list(conditions),
        "dose_class": 2,
        "modality": "CT",
        "redundancy": None,
    }


def record(*ratings: dict[str, Any]) -> ConsultationRecord:
    outputs = {"status": "rated", "ratings": list(ratings)}
    return ConsultationRecord(Consultation(inputs={"patient": {}}, outputs=outputs))


def ranking(rec: ConsultationRecord, *slotted: str) -> Ranking:
    rated = [RatedProcedure(r["procedure_code"], r["category"], r["score"], 2) for r in rec.ratings]
    slots = [
        SlotChoice(i, code, i, datetime(2026, 12, 2, 9, tzinfo=UTC), 1.0, 5.0, False)
        for i, code in enumerate(slotted, start=1)
    ]
    return rank_options(ratings=rated, slots=slots, weights=Weights())


def test_an_urgent_best_exam_with_no_slot_for_any_exam_worth_one_is_a_referral() -> None:
    rec = record(
        rating("ct-pulmonary-angio", "indicated", "urgent"),
        rating("nm-lung-vq", "special_cases", "urgent"),
    )
    referral = referral_needed(rec, ranking(rec))
    assert referral is not None
    assert referral.kind == EMERGENCY_DEPARTMENT
    assert referral.procedure_code == "ct-pulmonary-angio"
    assert referral.as_dict()["message"]
    # One slot for any exam worth one, and the patient can be booked: no referral.
    assert referral_needed(rec, ranking(rec, "nm-lung-vq")) is None


def test_no_referral_when_the_exam_can_wait_or_when_no_imaging_is_indicated() -> None:
    within_week = record(rating("us-abdomen", "indicated", "within_week"))
    assert referral_needed(within_week, ranking(within_week)) is None
    # Minor head injury without a risk factor: urgent wording, but nothing is indicated.
    nothing = record(rating("ct-head", "not_indicated", "urgent"))
    assert referral_needed(nothing, ranking(nothing)) is None


def test_a_red_flag_that_makes_a_lesser_exam_urgent_is_enough() -> None:
    rec = record(
        rating("us-abdomen", "indicated", "within_week"),
        rating("ct-abdomen-pelvis-contrast", "special_cases", "urgent", "red_flags_any=[fever]"),
    )
    referral = referral_needed(rec, ranking(rec))
    assert referral is not None and referral.procedure_code == "ct-abdomen-pelvis-contrast"
    plain = record(
        rating("us-abdomen", "indicated", "within_week"),
        rating("ct-abdomen-pelvis-contrast", "special_cases", "urgent"),
    )
    assert referral_needed(plain, ranking(plain)) is None


def withdraw_free_slots(*modalities: str) -> None:
    """The centres withdraw every free slot of these machines; the cache is rewritten."""
    Slot.objects.filter(equipment__modality__in=modalities, status=SlotStatus.FREE).update(
        status=SlotStatus.WITHDRAWN
    )
    cache_write_centres(Centre.objects.values_list("pk", flat=True))


@pytest.fixture
def alice(client: Client, actors: Actors) -> Client:
    client.force_login(actors.alice)
    return client


def test_the_page_sends_a_pregnant_woman_with_suspected_pe_to_the_emergency_department(
    alice: Client, world: FlowPacs
) -> None:
    pregnant = {"pregnancy": "yes", "birth_date": "1995-05-02"}
    booked = consultation_of(start(alice, "pulmonary-embolism-suspected", **pregnant))
    page = alice.get(f"/orders/c/{booked.pk}/").content.decode()
    # Both exams stand in pregnancy, neither contraindicated, with slots: no referral.
    assert "Contre-indiqué" not in page and 'name="slot_id"' in page
    assert "verdict referral" not in page
    assert "referral" not in booked.outputs

    withdraw_free_slots("CT", "NM")
    referred = consultation_of(start(alice, "pulmonary-embolism-suspected", **pregnant))
    assert referred.outputs["referral"] == {
        "kind": "emergency_department",
        "procedure_code": "ct-pulmonary-angio",
    }
    page = alice.get(f"/orders/c/{referred.pk}/").content.decode()
    assert 'class="card verdict referral" role="alert"' in page
    # French once the catalogue is compiled at merge, English until then.
    assert "service des urgences" in page or "emergency department" in page
    assert "Urgent" in page  # the exam's priority, in words
