from __future__ import annotations

import json

import pytest

from guidelines.models import Rule, RuleChange, RuleSet
from guidelines.rulepack import RulePackInvalid
from guidelines.services.transfer import rule_set_document, rule_set_export, rule_set_import


def _content(rule_set: RuleSet) -> dict:
    document = rule_set_document(rule_set)
    return {k: v for k, v in document.items() if k not in ("version", "label")}


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_export_then_import_gives_an_identical_rule_set(published, actors, fmt):
    text = rule_set_export(rule_set=published, fmt=fmt)
    imported = rule_set_import(text=text, fmt=fmt, filename=f"v1.{fmt}", user=actors.erin)
    assert imported.status == "draft" and imported.version == published.version + 1
    assert _content(imported) == _content(published)
    assert (
        rule_set_export(rule_set=imported, fmt=fmt)
        .replace(f"version: {imported.version}", "version: 1")
        .replace(f'"version": {imported.version}', '"version": 1')
        == text
    )
    change = RuleChange.objects.get(rule_set=imported)
    assert change.action == "import" and change.user == actors.erin


def test_the_json_export_is_plain_json(published):
    document = json.loads(rule_set_export(rule_set=published, fmt="json"))
    assert document["format"] == "imaging-cds/rule-set/1"
    assert len(document["rules"]) == 8 and len(document["golden_cases"]) == 4


def test_a_malformed_import_is_rejected_whole_with_line_and_field(published, actors):
    text = rule_set_export(rule_set=published, fmt="yaml")
    broken = text.replace("category: specialised", "category: sometimes", 1)
    line = next(n for n, row in enumerate(broken.splitlines(), 1) if "sometimes" in row)
    before = (RuleSet.objects.count(), Rule.objects.count(), RuleChange.objects.count())
    with pytest.raises(RulePackInvalid) as caught:
        rule_set_import(text=broken, fmt="yaml", filename="v1.yaml", user=actors.erin)
    assert [str(e).split(":")[0] for e in caught.value.errors] == [
        f"v1.yaml, line {line}, rules[2].category"
    ]
    assert (RuleSet.objects.count(), Rule.objects.count(), RuleChange.objects.count()) == before


def test_a_malformed_json_import_names_the_line(published, actors):
    text = rule_set_export(rule_set=published, fmt="json")
    broken = text.replace('"category": "specialised"', '"category": specialised', 1)
    with pytest.raises(RulePackInvalid) as caught:
        rule_set_import(text=broken, fmt="json", filename="v1.json", user=actors.erin)
    line = next(n for n, row in enumerate(broken.splitlines(), 1) if ": specialised" in row)
    assert str(caught.value.errors[0]).startswith(f"v1.json, line {line}: not valid JSON")


def test_an_import_that_contradicts_the_procedure_catalogue_changes_nothing(published, actors):
    text = rule_set_export(rule_set=published, fmt="yaml")
    broken = text.replace("dose_class: 3", "dose_class: 4", 1)
    count = RuleSet.objects.count()
    with pytest.raises(RulePackInvalid, match="differs from the procedure catalogue"):
        rule_set_import(text=broken, fmt="yaml", filename="v1.yaml", user=actors.erin)
    assert RuleSet.objects.count() == count
