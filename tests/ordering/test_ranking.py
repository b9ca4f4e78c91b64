from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from ordering.ranking import RatedProcedure, SlotChoice, Weights, rank_options

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CATEGORIES = {
    "indicated": 8,
    "special_cases": 6,
    "specialised": 5,
    "not_indicated_initially": 3,
    "not_indicated": 2,
    "contraindicated": 1,
}


def slot(slot_id: int, code: str, *, wait: float, km: float | None, **kw: object) -> SlotChoice:
    return SlotChoice(
        slot_id=slot_id,
        procedure_code=code,
        centre_id=slot_id,
        start=NOW + timedelta(days=wait),
        wait_days=wait,
        distance_km=km,
        extra_fees=bool(kw.get("extra_fees", False)),
        fits_patient=bool(kw.get("fits_patient", True)),
    )


def test_an_indicated_exam_outranks_a_not_indicated_one_even_if_it_waits_longer() -> None:
    ratings = [
        RatedProcedure("mr-lumbar-spine", "indicated", 8, 0),
        RatedProcedure("dx-lumbar-spine", "not_indicated", 2, 2),
    ]
    slots = [slot(1, "mr-lumbar-spine", wait=20, km=30), slot(2, "dx-lumbar-spine", wait=0, km=1)]
    ranking = rank_options(ratings=ratings, slots=slots, weights=Weights())
    assert [o.rated.procedure_code for o in ranking.options] == [
        "mr-lumbar-spine",
        "dx-lumbar-spine",
    ]
    assert not ranking.no_imaging_indicated


def test_every_term_is_kept_and_adds_up_to_the_total() -> None:
    ratings = [RatedProcedure("ct-head", "indicated", 8, 2, redundant=True)]
    ranking = rank_options(
        ratings=ratings,
        slots=[slot(1, "ct-head", wait=3, km=12, extra_fees=True, fits_patient=False)],
        weights=Weights(),
    )
    option = ranking.options[0]
    assert set(option.terms) == {
        "appropriateness",
        "dose",
        "redundancy",
        "wait",
        "distance",
        "patient_fit",
        "sector",
    }
    assert option.terms["redundancy"] == -25.0
    assert option.terms["patient_fit"] == -15.0
    assert option.terms["sector"] == -3.0
    assert abs(sum(option.terms.values()) - option.total) < 0.01


def test_among_slots_of_one_exam_the_nearer_sooner_one_wins() -> None:
    ratings = [RatedProcedure("us-abdomen", "indicated", 8, 0)]
    slots = [
        slot(1, "us-abdomen", wait=10, km=40),
        slot(2, "us-abdomen", wait=1, km=5),
        slot(3, "us-abdomen", wait=1, km=50),
    ]
    ranking = rank_options(ratings=ratings, slots=slots, weights=Weights())
    assert [o.slot.slot_id for o in ranking.options if o.slot] == [2, 3, 1]


def test_when_nothing_is_appropriate_the_ranking_says_no_imaging_is_indicated() -> None:
    ratings = [
        RatedProcedure("dx-lumbar-spine", "not_indicated", 2, 2),
        RatedProcedure("ct-lumbar-spine", "not_indicated_initially", 3, 3),
    ]
    ranking = rank_options(ratings=ratings, slots=[], weights=Weights())
    assert ranking.no_imaging_indicated
    assert all(option.slot is None for option in ranking.options)


def test_an_exam_without_a_free_slot_is_still_listed_after_the_bookable_ones() -> None:
    ratings = [
        RatedProcedure("mr-brain", "indicated", 8, 0),
        RatedProcedure("ct-head", "special_cases", 6, 2),
    ]
    ranking = rank_options(
        ratings=ratings, slots=[slot(1, "ct-head", wait=0, km=2)], weights=Weights()
    )
    assert [(o.rated.procedure_code, o.slot is None) for o in ranking.options] == [
        ("ct-head", False),
        ("mr-brain", True),
    ]


rated_strategy = st.builds(
    RatedProcedure,
    procedure_code=st.sampled_from(["a", "b", "c", "d"]),
    category=st.sampled_from(sorted(CATEGORIES)),
    score=st.integers(1, 9),
    dose_class=st.integers(0, 4),
    redundant=st.booleans(),
)
slot_strategy = st.builds(
    SlotChoice,
    slot_id=st.integers(1, 10_000),
    procedure_code=st.sampled_from(["a", "b", "c", "d"]),
    centre_id=st.integers(1, 50),
    start=st.just(NOW),
    wait_days=st.floats(0, 400, allow_nan=False),
    distance_km=st.none() | st.floats(0, 2000, allow_nan=False),
    extra_fees=st.booleans(),
    fits_patient=st.booleans(),
)


@given(ratings=st.lists(rated_strategy, max_size=6), slots=st.lists(slot_strategy, max_size=20))
def test_a_contraindicated_exam_never_ranks_first_unless_all_are(
    ratings: list[RatedProcedure], slots: list[SlotChoice]
) -> None:
    ranking = rank_options(ratings=ratings, slots=slots, weights=Weights())
    assert len(ranking.options) >= len({r.procedure_code for r in ratings}) or not ratings
    if ranking.options and any(r.category != "contraindicated" for r in ratings):
        assert ranking.options[0].rated.category != "contraindicated"
    for option in ranking.options:
        assert abs(sum(option.terms.values()) - option.total) < 0.01


def test_in_pregnancy_a_non_ionising_exam_as_well_rated_ranks_first_even_if_it_waits_longer() -> (
    None
):
    ratings = [
        RatedProcedure("ct-abdomen-pelvis-contrast", "indicated", 8, 3, ionising=True),
        RatedProcedure("us-abdomen", "indicated", 8, 0),
    ]
    slots = [
        slot(1, "ct-abdomen-pelvis-contrast", wait=0, km=1),
        slot(2, "us-abdomen", wait=40, km=90, extra_fees=True),
    ]
    pregnant = rank_options(ratings=ratings, slots=slots, weights=Weights(), pregnant=True)
    assert [o.rated.procedure_code for o in pregnant.options] == [
        "us-abdomen",
        "ct-abdomen-pelvis-contrast",
    ]
    assert pregnant.options[1].after_safer_alternative
    assert not pregnant.options[0].after_safer_alternative
    other = rank_options(ratings=ratings, slots=slots, weights=Weights())
    assert other.options[0].rated.procedure_code == "ct-abdomen-pelvis-contrast"


def test_in_pregnancy_a_better_rated_ionising_exam_or_one_with_the_only_slot_keeps_its_place() -> (
    None
):
    better = [
        RatedProcedure("ct-head", "indicated", 8, 2, ionising=True),
        RatedProcedure("mr-brain", "special_cases", 6, 0),
    ]
    slots = [slot(1, "ct-head", wait=5, km=10), slot(2, "mr-brain", wait=1, km=1)]
    ranking = rank_options(ratings=better, slots=slots, weights=Weights(), pregnant=True)
    assert ranking.options[0].rated.procedure_code == "ct-head"
    as_good = [
        RatedProcedure("ct-head", "indicated", 8, 2, ionising=True),
        RatedProcedure("mr-brain", "indicated", 8, 0),
    ]
    only_ct = rank_options(
        ratings=as_good, slots=[slot(1, "ct-head", wait=5, km=10)], weights=Weights(), pregnant=True
    )
    # A slot to book comes before an alternative that cannot be booked.
    assert [(o.rated.procedure_code, o.slot is not None) for o in only_ct.options] == [
        ("ct-head", True),
        ("mr-brain", False),
    ]


def test_a_contrast_exam_the_engine_warned_about_comes_after_one_without_contrast() -> None:
    ct = RatedProcedure(
        "ct-abdomen-pelvis-contrast",
        "indicated",
        8,
        3,
        ionising=True,
        with_contrast=True,
        contrast_warned=True,
    )
    us = RatedProcedure("us-abdomen", "indicated", 8, 0)
    slots = [
        slot(1, "ct-abdomen-pelvis-contrast", wait=0, km=1),
        slot(2, "us-abdomen", wait=30, km=60),
    ]
    ranking = rank_options(ratings=[ct, us], slots=slots, weights=Weights())
    assert [o.rated.procedure_code for o in ranking.options] == [
        "us-abdomen",
        "ct-abdomen-pelvis-contrast",
    ]
    # Better rated than anything without contrast: it keeps its place.
    better = RatedProcedure(
        "ct-abdomen-pelvis-contrast", "indicated", 9, 3, with_contrast=True, contrast_warned=True
    )
    ranking = rank_options(ratings=[better, us], slots=slots, weights=Weights())
    assert ranking.options[0].rated.procedure_code == "ct-abdomen-pelvis-contrast"
