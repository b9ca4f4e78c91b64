"""The product's rule pack in pregnancy: an ionising exam keeps its rule's category with a
warning asking for justification, a non-ionising exam at least as well rated comes first,
and "contraindicated" is never the engine's own doing."""

from __future__ import annotations

import pytest

from guidelines.engine import CompiledRuleSet, evaluate, rule_set_compiled
from guidelines.rulepack import pack_files, rulepack_load
from tests.guidelines.test_engine import patient


@pytest.fixture
def pack(db: None) -> CompiledRuleSet:
    return rule_set_compiled(rulepack_load(paths=pack_files(), publish=False).rule_set)


def order(pack: CompiledRuleSet, indication: str, **context: object) -> list[str]:
    decision = evaluate(indication, patient(sex="F", age_years=30, **context), pack)
    return [r.procedure_code for r in decision.ratings]


def test_a_pregnant_woman_with_suspected_pe_gets_ct_angiography_and_the_lung_scan(pack):
    decision = evaluate(
        "pulmonary-embolism-suspected", patient(sex="F", age_years=31, pregnancy="yes"), pack
    )
    ratings = {r.procedure_code: r for r in decision.ratings}
    assert ratings["ct-pulmonary-angio"].category == "indicated"
    assert ratings["nm-lung-vq"].category == "special_cases"
    for rating in ratings.values():
        assert rating.contraindications == ()
        assert [w.code for w in rating.warnings] == ["ionising-in-pregnancy"]


def test_in_pregnancy_ultrasound_then_mri_come_before_ct_for_suspected_appendicitis(pack):
    assert order(pack, "appendicitis-suspected-adult", pregnancy="yes")[:3] == [
        "us-abdomen",
        "mr-abdomen-pelvis",
        "ct-abdomen-pelvis-contrast",
    ]
    # Not pregnant: no MRI rule applies, CT keeps its place.
    assert "mr-abdomen-pelvis" not in order(pack, "appendicitis-suspected-adult", pregnancy="no")


def test_in_pregnancy_ultrasound_comes_first_for_acute_abdominal_pain_and_renal_colic(pack):
    assert order(pack, "abdominal-pain-acute-adult", pregnancy="yes")[0] == "us-abdomen"
    assert order(pack, "abdominal-pain-acute-adult", pregnancy="no")[0] == (
        "ct-abdomen-pelvis-contrast"
    )
    assert order(pack, "renal-colic", pregnancy="yes")[0] == "us-kidney-bladder"


def test_no_rating_of_the_pack_is_contraindicated_by_pregnancy_alone(pack):
    for code in pack.entries:
        pregnant = evaluate(code, patient(sex="F", age_years=30, pregnancy="yes"), pack)
        for rating in pregnant.ratings:
            if rating.category == "contraindicated":
                assert rating.rule_category == "contraindicated", (code, rating.procedure_code)
