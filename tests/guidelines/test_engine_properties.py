"""Property tests of the engine over the real rule pack: any valid patient context
gets a decision (never an exception), and after ranking a contraindicated exam
never comes first."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guidelines.context import PatientContext, PriorExamFact
from guidelines.engine import CompiledRuleSet, evaluate, rule_set_compiled
from guidelines.rulepack import rulepack_load
from ordering.ranking import RatedProcedure, Weights, rank_options

TODAY = date(2026, 3, 2)
MODALITIES = ["CT", "MR", "US", "DX", "MG", "NM", "PT"]


@pytest.fixture
def pack(db: None) -> CompiledRuleSet:
    return rule_set_compiled(rulepack_load(publish=True, label="Real pack").rule_set)


priors = st.lists(
    st.builds(
        PriorExamFact,
        performed_on=st.integers(0, 3000).map(lambda d: TODAY - timedelta(days=d)),
        modality=st.sampled_from(MODALITIES),
        procedure_code=st.one_of(st.none(), st.sampled_from(["mg-breast", "ct-head", "mr-brain"])),
        confidence=st.floats(0, 1),
    ),
    max_size=4,
).map(tuple)


def contexts(flags: list[str]) -> st.SearchStrategy[PatientContext]:
    return st.builds(
        PatientContext,
        age_years=st.integers(0, 110),
        sex=st.sampled_from(["F", "M", "U"]),
        pregnancy=st.sampled_from(["yes", "no", "unknown"]),
        red_flags=st.frozensets(st.sampled_from(flags)) if flags else st.just(frozenset()),
        egfr=st.one_of(st.none(), st.floats(1, 200)),
        mri_unsafe_implant=st.booleans(),
        contrast_allergy=st.booleans(),
        claustrophobia=st.booleans(),
        weight_kg=st.one_of(st.none(), st.floats(1, 350)),
        reduced_mobility=st.booleans(),
        prior_exams=priors,
        today=st.just(TODAY),
    )


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_valid_context_gets_a_decision_and_a_contraindicated_exam_never_ranks_first(
    pack: CompiledRuleSet, data: st.DataObject
) -> None:
    code = data.draw(st.sampled_from(sorted(pack.entries)), label="indication")
    flags = sorted(pack.entries[code].indication.red_flags)
    context = data.draw(contexts(flags), label="context")
    decision = evaluate(code, context, pack)
    assert decision.status in ("rated", "no_guideline")
    rated = [
        RatedProcedure(r.procedure.code, r.category, r.score, r.procedure.dose_class)
        for r in decision.ratings
    ]
    ranking = rank_options(ratings=rated, slots=[], weights=Weights())
    if ranking.options and any(r.category != "contraindicated" for r in rated):
        assert ranking.options[0].rated.category != "contraindicated"
