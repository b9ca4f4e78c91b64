"""The understanding stage on the rule pack's own words: the evaluation set's goals,
negation, facts, and texts that are no order at all (no database: the pack is
compiled straight from its files)."""

from __future__ import annotations

import pytest

from guidelines.engine import CompiledRuleSet
from guidelines.understanding import MAX_TEXT, understand
from guidelines.understanding.evaluation import GOALS, eval_orders, measure, pack_rules


@pytest.fixture(scope="module")
def rules() -> CompiledRuleSet:
    return pack_rules()


def test_the_evaluation_set_meets_the_goals(rules: CompiledRuleSet) -> None:
    figures = measure(eval_orders(), rules)
    assert figures.texts >= 300
    assert figures.below_goals() == {}, (
        f"top-1 {figures.top1:.1%}, top-3 {figures.top3:.1%}, red flags precision "
        f"{figures.red_flag_precision:.1%} recall {figures.red_flag_recall:.1%}; "
        f"goals {GOALS}; first misses: {figures.misses[:10]}"
    )
    # Never a confident wrong answer for more than one text in ten.
    assert figures.confident_wrong <= 0.10
    assert figures.honest_no_guideline >= 0.75


def test_it_reads_the_situation_the_duration_and_the_absent_red_flags(
    rules: CompiledRuleSet,
) -> None:
    reading = understand("lombalgie aiguë depuis 10 jours, sans fièvre ni traumatisme", rules)
    assert reading.understood and reading.indication_code == "low-back-pain-acute"
    assert reading.facts.duration_days == 10
    present, absent = reading.flags_for("low-back-pain-acute")
    assert "fever-or-general-decline" in absent
    assert "fever-or-general-decline" not in present


def test_a_duration_picks_the_chronic_situation(rules: CompiledRuleSet) -> None:
    reading = understand("lombalgie depuis 5 mois", rules)
    assert reading.facts.duration_days == 150
    assert reading.indication_code == "low-back-pain-chronic"


def test_it_reads_age_sex_side_hypothesis_and_risk_facts(rules: CompiledRuleSet) -> None:
    reading = understand(
        "suspicion de colique néphrétique droite chez une femme de 62 ans sous AVK", rules
    )
    assert reading.indication_code == "renal-colic"
    facts = reading.facts
    assert (facts.age_years, facts.sex, facts.laterality) == (62, "F", "right")
    assert facts.hypothesis is True
    assert "anticoagulant" in reading.risks


def test_a_typo_still_finds_the_situation(rules: CompiledRuleSet) -> None:
    assert understand("lombalige aigue", rules).indication_code == "low-back-pain-acute"


def test_a_situation_the_pack_does_not_cover_is_no_guideline_with_the_nearest(
    rules: CompiledRuleSet,
) -> None:
    reading = understand("diarrhée chronique de l'adulte", rules)
    assert not reading.understood
    assert reading.indication_code is None
    assert reading.suggestions, "the nearest situations are offered as such"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "🙂🙂🙂",
        "x" * 10_000,
        "Der Patient hat seit gestern starke Kopfschmerzen und Fieber",
        "the quick brown fox jumps over the lazy dog",
        "?!?;;;",
    ],
    ids=["empty", "blank", "emoji", "10000 characters", "German", "no clinical words", "signs"],
)
def test_any_text_gets_an_answer_and_never_an_error(rules: CompiledRuleSet, text: str) -> None:
    reading = understand(text, rules)
    assert not reading.understood or reading.suggestions
    assert len(reading.text) <= MAX_TEXT
    assert reading.truncated == (len(text.strip()) > MAX_TEXT)


def test_only_a_code_is_read_as_the_code(rules: CompiledRuleSet) -> None:
    reading = understand("N23", rules)
    assert reading.from_code
    assert reading.indication_code == "renal-colic"


def test_an_everyday_word_is_never_read_as_a_clinical_typo(rules: CompiledRuleSet) -> None:
    from guidelines.understanding import _corrected, index_for

    index = index_for(rules)
    # "tous" is one letter from "toux" (cough) once the pack knows that word: it is a
    # word of its own, never a typo. A real typo is still corrected.
    assert _corrected(index, "tous") is None
    assert _corrected(index, "lombalige") == "lombalgie"
