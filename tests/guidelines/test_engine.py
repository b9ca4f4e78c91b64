from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from guidelines.conditions import conditions_parse
from guidelines.context import PatientContext, PriorExamFact
from guidelines.engine import evaluate
from tests.guidelines.builders import TODAY, rule, rule_set


def patient(**kwargs) -> PatientContext:
    kwargs.setdefault("age_years", 40)
    return PatientContext(today=TODAY, **kwargs)


def category_of(rules, context, procedure="ct-head") -> str | None:
    rating = evaluate("headache", context, rules).rating(procedure)
    return rating.category if rating else None


@pytest.mark.parametrize(
    ("conditions", "context", "matches"),
    [
        ({"age_min": 18}, {"age_years": 18}, True),
        ({"age_min": 18}, {"age_years": 17}, False),
        ({"age_max": 17}, {"age_years": 17}, True),
        ({"age_max": 17}, {"age_years": 18}, False),
        ({"sex": "F"}, {"sex": "F"}, True),
        ({"sex": "F"}, {"sex": "U"}, False),
        ({"pregnancy": ["no", "unknown"]}, {"pregnancy": "unknown"}, True),
        ({"pregnancy": ["no"]}, {"pregnancy": "unknown"}, False),
        ({"red_flags_any": ["fever"]}, {"red_flags": frozenset({"fever"})}, True),
        ({"red_flags_any": ["fever"]}, {"red_flags": frozenset({"focal-deficit"})}, False),
        ({"red_flags_none": True}, {"red_flags": frozenset()}, True),
        ({"red_flags_none": True}, {"red_flags": frozenset({"fever"})}, False),
        ({"egfr_min": 30}, {"egfr": 30.0}, True),
        ({"egfr_min": 30}, {"egfr": None}, False),
        ({"egfr_max": 29}, {"egfr": 45.0}, False),
        ({"weight_min": 100}, {"weight_kg": 120.0}, True),
        ({"weight_max": 100}, {"weight_kg": None}, False),
        ({"mri_unsafe_implant": True}, {"mri_unsafe_implant": True}, True),
        ({"contrast_allergy": False}, {"contrast_allergy": True}, False),
        ({"claustrophobia": True}, {"claustrophobia": True}, True),
    ],
)
def test_each_condition_of_the_vocabulary_matches_as_format_md_says(conditions, context, matches):
    rules = rule_set(rule("ct-head", "special_cases", **conditions))
    expected = "special_cases" if matches else None
    assert category_of(rules, patient(**context)) == expected


def test_prior_within_days_matches_a_prior_of_the_same_procedure_only():
    rules = rule_set(rule("ct-head", "not_indicated", prior_within_days=30))
    recent = PriorExamFact(
        performed_on=TODAY - timedelta(days=30), modality="CT", procedure_code="ct-head"
    )
    other = replace(recent, procedure_code="mr-brain")
    old = replace(recent, performed_on=TODAY - timedelta(days=31))
    assert category_of(rules, patient(prior_exams=(recent,))) == "not_indicated"
    assert category_of(rules, patient(prior_exams=(other,))) is None
    assert category_of(rules, patient(prior_exams=(old,))) is None


def test_the_most_specific_matching_rule_wins():
    rules = rule_set(
        rule("ct-head", "not_indicated", position=0),
        rule("ct-head", "special_cases", position=1, age_min=18),
        rule("ct-head", "indicated", position=2, age_min=18, red_flags_any=["fever"]),
    )
    assert category_of(rules, patient()) == "special_cases"
    assert category_of(rules, patient(red_flags=frozenset({"fever"}))) == "indicated"
    assert category_of(rules, patient(age_years=10, red_flags=frozenset({"fever"}))) == (
        "not_indicated"
    )


def test_on_equal_specificity_the_first_rule_in_file_order_wins():
    rules = rule_set(
        rule("ct-head", "specialised", position=5, sex="F"),
        rule("ct-head", "indicated", position=2, age_min=18),
    )
    assert category_of(rules, patient(sex="F")) == "indicated"


def test_a_rating_carries_the_rule_its_source_and_the_conditions_that_matched():
    rules = rule_set(rule("ct-head", "indicated", position=3, age_min=18, sex="F"))
    rating = evaluate("headache", patient(sex="F"), rules).ratings[0]
    assert rating.score == 8
    assert rating.evidence == "B" and rating.intention == "first_line"
    assert rating.priority == "urgent" and rating.rationale_en == "rule 3"
    assert rating.source.document == "Test guide" and rating.source.year == 2013
    assert rating.matched_conditions == ("age_min=18", "sex=F")
    assert rating.contraindications == () and rating.warnings == ()


def test_an_mri_is_contraindicated_with_an_mri_unsafe_implant_whatever_the_rule_says():
    rules = rule_set(rule("mr-brain", "indicated"))
    rating = evaluate("headache", patient(mri_unsafe_implant=True), rules).ratings[0]
    assert rating.category == "contraindicated" and rating.score == 1
    assert rating.rule_category == "indicated"
    assert [f.code for f in rating.contraindications] == ["mri-unsafe-implant"]


def test_an_ionising_exam_in_pregnancy_keeps_its_category_with_a_warning_asking_for_justification():
    plain = rule_set(rule("ct-head", "indicated"))
    rating = evaluate("headache", patient(sex="F", pregnancy="yes"), plain).ratings[0]
    assert rating.category == "indicated" and rating.contraindications == ()
    assert [w.code for w in rating.warnings] == ["ionising-in-pregnancy"]
    assert "justify" in rating.warnings[0].reason_en
    assert "radiologue" in rating.warnings[0].reason_fr
    unknown = evaluate("headache", patient(sex="F", pregnancy="unknown"), plain).ratings[0]
    assert unknown.category == "indicated" and unknown.warnings == ()
    mri = rule_set(rule("mr-brain", "indicated"))
    assert category_of(mri, patient(pregnancy="yes"), "mr-brain") == "indicated"
    assert evaluate("headache", patient(pregnancy="yes"), mri).ratings[0].warnings == ()


def test_an_explicit_pregnancy_rule_says_the_guidance_allows_the_exam_in_pregnancy():
    explicit = rule_set(rule("ct-head", "indicated", pregnancy=["yes"]))
    rating = evaluate("headache", patient(sex="F", pregnancy="yes"), explicit).ratings[0]
    assert rating.category == "indicated"
    assert [w.code for w in rating.warnings] == ["ionising-in-pregnancy"]
    assert "allows it in pregnancy" in rating.warnings[0].reason_en


def test_only_a_pregnancy_rule_whose_source_says_so_makes_an_exam_contraindicated_in_pregnancy():
    rules = rule_set(
        rule("ct-head", "indicated", position=0),
        rule("ct-head", "contraindicated", position=1, pregnancy=["yes"]),
    )
    pregnant = evaluate("headache", patient(sex="F", pregnancy="yes"), rules).ratings[0]
    assert pregnant.category == "contraindicated" and pregnant.rule_category == "contraindicated"
    assert pregnant.warnings == ()  # the rule's own rationale says why
    assert category_of(rules, patient(sex="F", pregnancy="no")) == "indicated"


def test_in_pregnancy_a_non_ionising_exam_rated_as_well_comes_first_whatever_its_intention():
    ct = rule("ct-abdomen-pelvis-contrast", "indicated", position=0)
    us = replace(rule("us-abdomen", "indicated", position=1), intention="second_line")
    rules = rule_set(ct, us)
    pregnant = evaluate("headache", patient(sex="F", pregnancy="yes"), rules)
    assert [r.procedure_code for r in pregnant.ratings] == [
        "us-abdomen",
        "ct-abdomen-pelvis-contrast",
    ]
    not_pregnant = evaluate("headache", patient(sex="F", pregnancy="no"), rules)
    assert not_pregnant.ratings[0].procedure_code == "ct-abdomen-pelvis-contrast"
    # A non-ionising exam rated lower does not pass a better rated ionising one.
    lower = rule_set(ct, replace(us, category="special_cases"))
    first = evaluate("headache", patient(sex="F", pregnancy="yes"), lower).ratings[0]
    assert first.procedure_code == "ct-abdomen-pelvis-contrast"


def test_contrast_with_low_egfr_or_allergy_and_a_child_s_dose_are_warnings_not_changes():
    rules = rule_set(
        rule("ct-abdomen-pelvis-contrast", "indicated"),
        rule("mr-brain-gadolinium", "indicated", position=1),
        rule("us-abdomen", "indicated", position=2),
    )
    decision = evaluate("headache", patient(age_years=12, egfr=25.0, contrast_allergy=True), rules)
    codes = {r.procedure_code: [w.code for w in r.warnings] for r in decision.ratings}
    assert codes == {
        "ct-abdomen-pelvis-contrast": ["iodinated-low-egfr", "contrast-allergy", "paediatric-dose"],
        "mr-brain-gadolinium": ["gadolinium-low-egfr", "contrast-allergy"],
        "us-abdomen": [],
    }
    assert {r.category for r in decision.ratings} == {"indicated"}
    fine = evaluate("headache", patient(egfr=30.0), rules)
    assert all(not r.warnings for r in fine.ratings)


def test_a_recent_prior_of_the_same_procedure_flags_the_rating_redundant_and_keeps_its_category():
    rules = rule_set(rule("ct-head", "indicated", _repeat=90))
    prior = PriorExamFact(
        performed_on=TODAY - timedelta(days=12),
        modality="CT",
        description="CT head",
        procedure_code="ct-head",
    )
    rating = evaluate("headache", patient(prior_exams=(prior,)), rules).ratings[0]
    assert rating.category == "indicated" and rating.is_redundant
    assert rating.redundancy is not None and rating.redundancy.prior == prior
    assert rating.redundancy.message_en == "redundant: CT head 12 days ago"
    older = replace(prior, performed_on=TODAY - timedelta(days=91))
    assert not evaluate("headache", patient(prior_exams=(older,)), rules).ratings[0].is_redundant


def test_an_indication_with_no_rule_is_an_explicit_no_guideline_decision():
    rules = rule_set(rule("ct-head"))
    for code in ("no-rules", "never-heard-of"):
        decision = evaluate(code, patient(), rules)
        assert decision.status == "no_guideline" and not decision.guideline_applies
        assert decision.ratings == () and decision.reason_en


def test_rules_that_match_nobody_like_this_patient_give_no_guideline_either():
    rules = rule_set(rule("ct-head", age_max=10))
    decision = evaluate("headache", patient(age_years=50), rules)
    assert decision.status == "no_guideline"
    assert "patient" in decision.reason_en


def test_ratings_come_best_first_and_the_engine_is_deterministic():
    rules = rule_set(
        rule("mr-brain", "specialised", position=0),
        rule("ct-head", "indicated", position=1),
        rule("us-abdomen", "not_indicated", position=2),
    )
    first = evaluate("headache", patient(), rules)
    assert [r.procedure_code for r in first.ratings] == ["ct-head", "mr-brain", "us-abdomen"]
    assert evaluate("headache", patient(), rules) == first
    assert first.rule_set_version == 1


@pytest.mark.parametrize(
    ("conditions", "key"),
    [
        ({"age_above": 3}, "age_above"),
        ({"age_min": "18"}, "age_min"),
        ({"sex": "X"}, "sex"),
        ({"pregnancy": ["maybe"]}, "pregnancy"),
        ({"red_flags_any": ["unknown-flag"]}, "red_flags_any"),
        ({"red_flags_none": False}, "red_flags_none"),
        ({"mri_unsafe_implant": "yes"}, "mri_unsafe_implant"),
        ({"age_min": 30, "age_max": 20}, "age_min"),
        ({"egfr_min": -1}, "egfr_min"),
    ],
)
def test_conditions_outside_the_closed_vocabulary_are_refused_with_the_key(conditions, key):
    _, errors = conditions_parse(conditions, red_flag_codes=["fever"])
    assert [e.key for e in errors] == [key]


def test_an_unquoted_yaml_yes_in_pregnancy_reads_as_yes():
    parsed, errors = conditions_parse({"pregnancy": [True, False]})
    assert not errors and parsed[0].value == frozenset({"yes", "no"})
