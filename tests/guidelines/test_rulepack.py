from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from guidelines.engine import evaluate, published_rule_set_compiled
from guidelines.models import GoldenCase, Indication, Procedure, Rule, RuleSet
from guidelines.rulepack import RulePackInvalid, pack_files, packs_parse, rulepack_load
from guidelines.services.rulesets import golden_cases_run
from tests.guidelines.conftest import TEST_PACK
from tests.guidelines.test_engine import patient

GOOD = TEST_PACK.read_text(encoding="utf-8")


def test_a_valid_pack_loads_indications_declared_procedures_rules_and_golden_cases(published):
    assert published.status == "published" and published.version == 1
    assert Rule.objects.filter(rule_set=published).count() == 8
    assert GoldenCase.objects.filter(rule_set=published).count() == 4
    assert Procedure.objects.get(code="test-ct-head-angio").contrast == "iodinated"
    headache = Indication.objects.get(code="test-headache-sudden")
    assert headache.area == "head_neuro" and headache.snomed_codes == ["95655001"]
    assert [f["code"] for f in headache.red_flags] == ["focal-deficit", "fever"]
    pregnancy_rule = Rule.objects.get(rule_set=published, conditions__has_key="pregnancy")
    assert pregnancy_rule.conditions == {"pregnancy": ["yes"]}  # not [true]
    positions = list(Rule.objects.filter(rule_set=published).values_list("position", flat=True))
    assert positions == list(range(8))


def test_the_golden_cases_of_the_test_pack_pass_against_its_rules(published):
    run = golden_cases_run(rule_set=published)
    assert len(run.results) == 4 and run.failures == []


def test_the_loaded_set_is_what_the_engine_evaluates(published):
    compiled = published_rule_set_compiled()
    assert compiled.version == published.version and compiled.rule_count == 8
    decision = evaluate(
        "test-headache-sudden", patient(red_flags=frozenset({"focal-deficit"})), compiled
    )
    assert [r.procedure_code for r in decision.ratings][:2] == ["ct-head", "test-ct-head-angio"]


def _errors(tmp_path: Path, text: str, name: str = "broken.yaml") -> list[str]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RulePackInvalid) as caught:
        packs_parse([path])
    return [str(e) for e in caught.value.errors]


def _line_of(text: str, needle: str, occurrence: int = 1) -> int:
    lines = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return lines[occurrence - 1]


@pytest.mark.parametrize(
    ("find", "replace", "needle", "field", "message"),
    [
        (
            "category: specialised",
            "category: advisable",
            "category: advisable",
            "rules[2].category",
            "must be one of",
        ),
        (
            "evidence: C\n    intention: second_line\n    priority: within_week",
            "evidence: Z\n    intention: second_line\n    priority: within_week",
            "evidence: Z",
            "rules[2].evidence",
            "must be one of",
        ),
        (
            "conditions: {age_max: 17}",
            "conditions: {age_below: 17}",
            "age_below",
            "rules[6].conditions.age_below",
            "unknown condition",
        ),
        (
            "conditions: {red_flags_any: [focal-deficit]}",
            "conditions: {red_flags_any: [stiff-neck]}",
            "stiff-neck",
            "rules[3].conditions.red_flags_any",
            "not a red flag",
        ),
        (
            "    procedure: mr-brain\n    conditions: {}",
            "    procedure: mr-brian\n    conditions: {}",
            "mr-brian",
            "rules[2].procedure",
            "unknown procedure",
        ),
        (
            "  - indication: test-chronic-headache\n    procedure: ct-head\n    conditions: {}",
            "  - indication: test-chronic-headach\n    procedure: ct-head\n    conditions: {}",
            "test-chronic-headach\n",
            "rules[7].indication",
            "unknown indication",
        ),
        (
            "year: 2013, url",
            "year: 1850, url",
            "year: 1850",
            "rules[0].source.year",
            "whole number from 1990",
        ),
        (
            'icd10_codes: ["R51"]',
            'icd10_codes: ["R5X"]',
            "R5X",
            "indications[0].icd10_codes[0]",
            "not an ICD-10",
        ),
        (
            "contrast: iodinated, dose_class: 3",
            "contrast: iodine, dose_class: 3",
            "contrast: iodine",
            "procedures[0].contrast",
            "must be one of",
        ),
        (
            "    repeat_interval_days: 365\n  - indication: test-chronic-headache\n"
            "    procedure: mr-brain",
            "    repeat_interval_days: -3\n  - indication: test-chronic-headache\n"
            "    procedure: mr-brain",
            "repeat_interval_days: -3",
            "rules[4].repeat_interval_days",
            "whole number",
        ),
        (
            "expect: {ct-head: indicated}",
            "expect: {ct-head: fine}",
            "ct-head: fine",
            "golden_cases[1].expect.ct-head",
            "unknown category",
        ),
        (
            "context: {age: 45, sex: F}",
            "context: {age: 45, sex: F, mood: calm}",
            "mood: calm",
            "golden_cases[0].context.mood",
            "unknown field",
        ),
    ],
)
def test_a_malformed_field_is_reported_with_its_line_and_field(
    tmp_path, find, replace, needle, field, message
):
    assert find in GOOD
    text = GOOD.replace(find, replace, 1)
    errors = _errors(tmp_path, text)
    line = (
        _line_of(text, needle.rstrip("\n"))
        if not needle.endswith("\n")
        else next(
            n for n, row in enumerate(text.splitlines(), 1) if row.endswith(needle.rstrip("\n"))
        )
    )
    assert any(f"broken.yaml, line {line}, {field}: " in e and message in e for e in errors), errors


def test_a_missing_field_is_reported_at_the_line_of_its_rule(tmp_path):
    text = GOOD.replace('    rationale_en: "MRI is a second-line test (test)."\n', "", 1)
    errors = _errors(tmp_path, text)
    line = _line_of(text, "procedure: mr-brain") - 1
    assert errors == [f"broken.yaml, line {line}, rules[2]: missing field 'rationale_en'"]


def test_broken_yaml_is_reported_with_its_line(tmp_path):
    text = GOOD.replace("  - code: test-chronic-headache", "  - code: [test-chronic-headache", 1)
    errors = _errors(tmp_path, text)
    assert len(errors) == 1 and "not valid YAML" in errors[0]
    assert errors[0].startswith("broken.yaml, line ")


def test_a_key_given_twice_and_an_unknown_top_level_key_are_refused(tmp_path):
    text = GOOD.replace("area: head_neuro", "area: head_neuro\nauthor: me\narea: spine", 1)
    errors = _errors(tmp_path, text)
    assert "broken.yaml, line 5, author: unknown field" in errors
    assert "broken.yaml, line 6, area: key given twice" in errors


def test_a_pack_may_not_declare_again_a_procedure_of_the_catalogue(tmp_path):
    text = GOOD.replace("code: test-ct-head-angio", "code: ct-head", 1)
    errors = _errors(tmp_path, text)
    assert any(
        "procedures[0].code: procedure ct-head is already in procedures.yaml" in e for e in errors
    )


def test_one_bad_file_among_good_ones_loads_nothing(db, tmp_path):
    bad = tmp_path / "zz_bad.yaml"
    bad.write_text(
        GOOD.replace("test-headache-sudden", "other-headache")
        .replace("test-chronic-headache", "other-chronic")
        .replace("test-ct-head-angio", "other-angio")
        .replace("category: specialised", "category: maybe"),
        encoding="utf-8",
    )
    before = (RuleSet.objects.count(), Indication.objects.count(), Procedure.objects.count())
    with pytest.raises(RulePackInvalid) as caught:
        rulepack_load(paths=[TEST_PACK, bad], publish=True)
    assert [e.filename for e in caught.value.errors] == ["zz_bad.yaml"]
    assert (
        RuleSet.objects.count(),
        Indication.objects.count(),
        Procedure.objects.count(),
    ) == before


def test_publishing_a_pack_whose_golden_case_fails_is_refused_and_loads_nothing(db, tmp_path):
    path = tmp_path / "failing.yaml"
    path.write_text(
        GOOD.replace(
            "expect: {ct-head: indicated, mr-brain: specialised}",
            "expect: {ct-head: indicated, mr-brain: indicated}",
        ),
        "utf-8",
    )
    with pytest.raises(CommandError, match="mr-brain indicated≠specialised"):
        call_command("rulepack_load", str(path), "--publish", stdout=StringIO())
    assert not RuleSet.objects.exists()


def test_the_command_loads_a_pack_as_a_draft_or_published(db):
    out = StringIO()
    call_command("rulepack_load", str(TEST_PACK), stdout=out)
    assert "v1 (draft): 1 files, 8 rules, 4 golden cases" in out.getvalue()
    call_command("rulepack_load", str(TEST_PACK), "--publish", stdout=out)
    assert RuleSet.objects.get(version=2).status == "published"


def test_every_rule_pack_file_of_the_product_loads_and_passes_its_golden_cases(db):
    """Passes with no pack file as well: it must keep passing as the content grows."""
    result = rulepack_load(paths=pack_files(), publish=False)
    run = golden_cases_run(rule_set=result.rule_set)
    failures = [
        f"{r.name}: "
        + ", ".join(f"{m.procedure} expected {m.expected}, got {m.actual}" for m in r.mismatches)
        for r in run.failures
    ]
    assert failures == []
    assert len(run.results) == result.golden_cases


def test_the_demo_publishes_the_rule_pack_as_version_one_once(db):
    call_command("demo_load", "--force", "--quiet-accounts", stdout=StringIO())
    published = RuleSet.objects.get(status="published")
    assert published.version == 1
    call_command("demo_load", "--force", "--quiet-accounts", stdout=StringIO())
    assert RuleSet.objects.count() == 1
