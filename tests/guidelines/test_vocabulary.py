"""The vocabulary of the rule pack: synonyms, red-flag words, duration of the complaint."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from guidelines.engine import RedFlagWords, published_rule_set_compiled, rule_set_compile
from guidelines.models import Indication
from guidelines.rulepack import RulePackInvalid, pack_files, packs_parse
from guidelines.services.transfer import rule_set_document, rule_set_export, rule_set_import
from tests.guidelines.conftest import TEST_PACK

GOOD = TEST_PACK.read_text(encoding="utf-8")
FEVER = 'words: ["fièvre", "fébrile", "fever"], absent_words: ["apyrétique", "afebrile"]'
SYNONYMS = 'synonyms: ["migraine", "chronic headache"]'
DURATION = "duration_days: {min: 90}"


def _errors(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RulePackInvalid) as caught:
        packs_parse([path])
    return [str(e) for e in caught.value.errors]


def _line_of(text: str, needle: str) -> int:
    return next(n for n, row in enumerate(text.splitlines(), 1) if needle in row)


@pytest.mark.parametrize(
    ("find", "replace", "needle", "field", "message"),
    [
        (
            SYNONYMS,
            'synonyms: ["migraine", "chronic headache", "MIGRAINE"]',
            "MIGRAINE",
            "indications[1].synonyms[2]",
            "'MIGRAINE' is given twice (also at indications[1].synonyms[0])",
        ),
        (
            SYNONYMS,
            'synonyms: ["céphalées", "cephalees"]',
            "cephalees",
            "indications[1].synonyms[1]",
            "given twice",
        ),
        (
            SYNONYMS,
            'synonyms: ["migraine", " "]',
            '" "]',
            "indications[1].synonyms[1]",
            "non-empty",
        ),
        (
            SYNONYMS,
            "synonyms: migraine",
            "synonyms: migraine",
            "indications[1].synonyms",
            "list of texts",
        ),
        (
            FEVER,
            'words: ["fièvre", "fever"], absent_words: ["Fièvre"]',
            'absent_words: ["Fièvre"]',
            "indications[0].red_flags[1].absent_words[0]",
            "given twice (also at indications[0].red_flags[1].words[0])",
        ),
        (
            FEVER,
            'words: ["fièvre", "hémiplégie"]',
            'words: ["fièvre", "hémiplégie"]',
            "indications[0].red_flags[1].words[1]",
            "given twice (also at indications[0].red_flags[0].words[1])",
        ),
        (
            FEVER,
            "words: [fièvre, 38]",
            "words: [fièvre, 38]",
            "indications[0].red_flags[1].words",
            "list of texts",
        ),
        (
            FEVER,
            'words: ["fièvre"], vocabulary: ["fever"]',
            "vocabulary",
            "indications[0].red_flags[1].vocabulary",
            "unknown field",
        ),
        (
            DURATION,
            "duration_days: {min: 90, max: 30}",
            "max: 30",
            "indications[1].duration_days",
            "min must be less than max",
        ),
        (
            DURATION,
            "duration_days: {min: 90, max: 90}",
            "max: 90",
            "indications[1].duration_days",
            "min must be less than max",
        ),
        (
            DURATION,
            "duration_days: {min: -1}",
            "min: -1",
            "indications[1].duration_days.min",
            "whole number from 0",
        ),
        (
            DURATION,
            "duration_days: {max: 1.5}",
            "max: 1.5",
            "indications[1].duration_days.max",
            "whole number",
        ),
        (
            DURATION,
            "duration_days: {above: 90}",
            "above: 90",
            "indications[1].duration_days.above",
            "unknown field",
        ),
        (
            DURATION,
            "duration_days: {}",
            "duration_days",
            "indications[1].duration_days",
            "min, max or both",
        ),
        (
            DURATION,
            "duration_days: 90",
            "duration_days",
            "indications[1].duration_days",
            "must be a mapping",
        ),
    ],
)
def test_a_bad_vocabulary_field_is_refused_with_its_line_and_path(
    tmp_path, find, replace, needle, field, message
):
    assert find in GOOD
    text = GOOD.replace(find, replace, 1)
    errors = _errors(tmp_path, text)
    where = f"broken.yaml, line {_line_of(text, needle)}, {field}: "
    assert any(e.startswith(where) and message in e for e in errors), errors


def test_the_vocabulary_is_stored_with_the_indication(published):
    headache = Indication.objects.get(code="test-headache-sudden")
    fever = headache.red_flags[1]
    assert fever["words"] == ["fièvre", "fébrile", "fever"]
    assert fever["absent_words"] == ["apyrétique", "afebrile"]
    assert headache.duration_days == {}
    assert Indication.objects.get(code="test-chronic-headache").duration_days == {"min": 90}


def test_the_compiled_indication_carries_the_words_and_the_duration(published):
    compiled = published_rule_set_compiled()
    headache = compiled.indication("test-headache-sudden")
    chronic = compiled.indication("test-chronic-headache")
    assert headache is not None and chronic is not None
    assert headache.red_flags == frozenset({"focal-deficit", "fever"})
    assert headache.red_flag_words[1] == RedFlagWords(
        code="fever",
        label_fr="Fièvre",
        label_en="Fever",
        words=("fièvre", "fébrile", "fever"),
        absent_words=("apyrétique", "afebrile"),
    )
    assert chronic.red_flag_words[0].words == ()
    assert headache.duration_days is None and headache.duration_fits(3)
    assert chronic.duration_days == (90, None)
    assert [chronic.duration_fits(days) for days in (89, 90, 400)] == [False, True, True]


def test_an_import_restores_the_vocabulary_it_exported(published, actors):
    """Indications are shared by all rule sets: wipe their words before importing,
    or the round trip would read back the words it never wrote."""
    text = rule_set_export(rule_set=published, fmt="yaml")
    before = rule_set_document(published)["indications"]
    assert "absent_words" in text and "duration_days" in text
    Indication.objects.update(synonyms=[], duration_days={}, red_flags=[])
    imported = rule_set_import(text=text, fmt="yaml", filename="v1.yaml", user=actors.erin)
    assert rule_set_document(imported)["indications"] == before
    chronic = rule_set_compile(imported).indication("test-chronic-headache")
    assert chronic is not None and chronic.duration_days == (90, None)


def test_the_product_rule_pack_is_valid_for_the_check_command(db):
    out = StringIO()
    call_command("rulepack_load", "--check", stdout=out)
    assert f"{len(pack_files())} files valid" in out.getvalue()
