"""The verified code files (guidelines/data/codes), the rule key `review:` through load,
clone, edit, export and import, its badge in the authoring pages, and the content
report `manage.py rulepack_report`."""

from __future__ import annotations

from datetime import date
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from guidelines.codes import code_tables_parse
from guidelines.models import Rule, RuleSet
from guidelines.rulepack import (
    RulePackInvalid,
    pack_files,
    packs_parse,
    packs_parse_with_codes,
    rulepack_load,
)
from guidelines.services.rulesets import rule_set_clone, rule_update
from guidelines.services.transfer import rule_set_export, rule_set_import
from tests.actors import Actors
from tests.guidelines.conftest import TEST_PACK

CCAM_HEAD = """
sources:
  nomenclature: {document: "CCAM v63", year: 2020, repo: example/repo, path: ccam.csv}
planned: [dx-planned]
"""
WHY = "Seen only in a secondary source."


def _tables(tmp_path: Path, ccam: str, cim10: str | None = None) -> None:
    (tmp_path / "ccam.yaml").write_text(ccam, encoding="utf-8")
    (tmp_path / "cim10.yaml").write_text(
        cim10
        or 'sources:\n  cim: {document: "CIM-10", year: 2019, url: "https://example.org/cim"}\n',
        encoding="utf-8",
    )
    code_tables_parse(
        procedures={"dx-chest", "ct-head"},
        indications={"renal-colic"},
        ccam_file=tmp_path / "ccam.yaml",
        cim10_file=tmp_path / "cim10.yaml",
    )


# --- The code files -------------------------------------------------------------------


def test_the_shipped_code_files_are_valid_against_the_whole_rule_pack() -> None:
    _documents, tables = packs_parse_with_codes(pack_files())
    assert tables.ccam.codes("dx-chest") == ["ZBQK002"]
    assert "R10.4" in tables.cim10.codes("abdominal-pain-acute-adult")
    for table in (tables.ccam, tables.cim10):
        for entries in table.entries.values():
            for entry in entries:
                # Every code says what it was seen as, and where.
                assert entry.label and entry.sources
                assert all(s.year and (s.url or (s.repo and s.path)) for s in entry.sources)
        assert all(why for why in table.missing.values())


def test_an_entry_for_an_unknown_exam_is_refused_with_its_file(tmp_path: Path) -> None:
    text = CCAM_HEAD + (
        "procedures:\n  dx-chets:\n"
        "    - {code: ZBQK002, label: Radiographie du thorax, sources: [nomenclature]}\n"
    )
    with pytest.raises(RulePackInvalid) as raised:
        _tables(tmp_path, text)
    assert "codes/ccam.yaml" in str(raised.value)
    assert "unknown exam 'dx-chets'" in str(raised.value)


def test_an_entry_for_a_planned_exam_waits_without_breaking_the_load(tmp_path: Path) -> None:
    text = CCAM_HEAD + (
        "procedures:\n  dx-planned:\n"
        "    - {code: ZBQK002, label: Radiographie du thorax, sources: [nomenclature]}\n"
    )
    (tmp_path / "ccam.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "cim10.yaml").write_text(
        'sources:\n  cim: {document: "CIM-10", year: 2019, url: "https://example.org/cim"}\n',
        encoding="utf-8",
    )
    tables = code_tables_parse(
        procedures={"dx-chest"},
        indications=set(),
        ccam_file=tmp_path / "ccam.yaml",
        cim10_file=tmp_path / "cim10.yaml",
    )
    assert tables.ccam.waiting == ["dx-planned"]
    assert tables.ccam.codes("dx-planned") == []


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{code: ZBQK02, label: Radiographie, sources: [nomenclature]}", "not a CCAM code"),
        ("{code: ZBQK002, label: Radiographie, sources: [hearsay]}", "unknown source 'hearsay'"),
        ("{code: ZBQK002, label: '', sources: [nomenclature]}", "label: must be a non-empty"),
        ("{code: ZBQK002, label: Radiographie}", "missing field 'sources'"),
    ],
)
def test_a_malformed_code_entry_is_refused_with_its_line_and_field(
    tmp_path: Path, entry: str, message: str
) -> None:
    text = CCAM_HEAD + f"procedures:\n  dx-chest:\n    - {entry}\n"
    with pytest.raises(RulePackInvalid) as raised:
        _tables(tmp_path, text)
    assert message in str(raised.value)
    assert "line 7" in str(raised.value)


def test_an_exam_both_coded_and_missing_is_refused(tmp_path: Path) -> None:
    text = CCAM_HEAD + (
        f'missing:\n  dx-chest: "{WHY}"\n'
        "procedures:\n  dx-chest:\n"
        "    - {code: ZBQK002, label: Radiographie du thorax, sources: [nomenclature]}\n"
    )
    with pytest.raises(RulePackInvalid, match="also listed under `missing`"):
        _tables(tmp_path, text)


def test_a_cim10_code_of_the_wrong_shape_is_refused(tmp_path: Path) -> None:
    cim10 = (
        'sources:\n  cim: {document: "CIM-10", year: 2019, url: "https://example.org/cim"}\n'
        "indications:\n  renal-colic:\n    - {code: N23X9Z, label: Colique, sources: [cim]}\n"
    )
    with pytest.raises(RulePackInvalid, match="not a CIM-10 code"):
        _tables(tmp_path, CCAM_HEAD, cim10)


# --- review: ----------------------------------------------------------------------------


def _pack_with_review(tmp_path: Path, review: str) -> Path:
    text = TEST_PACK.read_text(encoding="utf-8")
    anchor = (
        '    source: {document: "SFR/HAS — Guide du bon usage (test)", section: "Céphalées", '
        'year: 2013, url: "https://gbu.radiologie.fr/"}\n'
    )
    assert anchor in text
    path = tmp_path / "test_neuro.yaml"
    path.write_text(text.replace(anchor, anchor + f"    review: {review}\n", 1), encoding="utf-8")
    return path


def test_a_rule_review_is_loaded_cloned_exported_and_imported(
    db: None, tmp_path: Path, actors: Actors
) -> None:
    path = _pack_with_review(tmp_path, f'"{WHY}"')
    loaded = rulepack_load(paths=[path], publish=True).rule_set
    flagged = Rule.objects.filter(rule_set=loaded).exclude(review="")
    assert [r.review for r in flagged] == [WHY]
    draft = rule_set_clone(rule_set=loaded, user=actors.erin)
    assert Rule.objects.filter(rule_set=draft, review=WHY).count() == 1
    text = rule_set_export(rule_set=draft, fmt="yaml")
    assert f"review: {WHY}" in text
    imported = rule_set_import(text=text, fmt="yaml", filename="v.yaml", user=actors.erin)
    assert Rule.objects.filter(rule_set=imported, review=WHY).count() == 1


def test_a_review_that_is_not_text_is_refused(tmp_path: Path) -> None:
    path = _pack_with_review(tmp_path, "[1, 2]")
    with pytest.raises(RulePackInvalid, match="review: must be text"):
        packs_parse([path])


def test_an_editor_clears_a_review_once_checked_and_the_history_keeps_it(
    db: None, tmp_path: Path, actors: Actors
) -> None:
    path = _pack_with_review(tmp_path, f'"{WHY}"')
    draft = rulepack_load(paths=[path]).rule_set
    rule = Rule.objects.get(rule_set=draft, review=WHY)
    rule_update(
        rule=rule, user=actors.erin, reason="Checked against the guide", values={"review": ""}
    )
    rule.refresh_from_db()
    assert rule.review == ""
    change = rule.rule_set.changes.get(rule_id=rule.pk)
    assert change.details["changed"]["review"] == [WHY, ""]


def test_the_authoring_pages_show_a_badge_on_each_rule_to_review(
    db: None, tmp_path: Path, actors: Actors
) -> None:
    path = _pack_with_review(tmp_path, f'"{WHY}"')
    rule_set = rulepack_load(paths=[path], publish=True).rule_set
    client = Client()
    client.force_login(actors.erin)
    listing = client.get(reverse("guidelines:rule_set", args=[rule_set.version])).content.decode()
    assert listing.count("badge-review") == 1
    rule = Rule.objects.get(rule_set=rule_set, review=WHY)
    page = client.get(reverse("guidelines:rule", args=[rule.pk])).content.decode()
    assert "badge-review" in page and WHY in page
    other = Rule.objects.filter(rule_set=rule_set, review="").first()
    assert other is not None
    assert (
        "badge-review"
        not in client.get(reverse("guidelines:rule", args=[other.pk])).content.decode()
    )


# --- The content report -----------------------------------------------------------------


def test_the_report_prints_and_writes_the_pack_with_old_sources_codes_and_reviews(
    tmp_path: Path,
) -> None:
    out = StringIO()
    target = tmp_path / "report.html"
    call_command("rulepack_report", "--html", str(target), "--today", "2026-12-01", stdout=out)
    printed = out.getvalue()
    page = target.read_text(encoding="utf-8")
    documents, _tables = packs_parse_with_codes(pack_files())
    situations = sum(len(d.indications) for d in documents)
    rules = sum(len(d.rules) for d in documents)
    assert f"Situations: {situations} · rules: {rules}" in printed or (
        f"Situations\u00a0: {situations} · règles\u00a0: {rules}" in printed
    )
    # Sources of 2015 and before are older than ten years on 2026-12-01; 2016 is not.
    assert "(before 2016)" in printed or "(avant 2016)" in printed
    assert "cognitive-decline" in printed.split("2016)")[1].split("\n\n")[0]
    # The exam without a verified code is listed with why, from the code file.
    assert "mr-internal-auditory-canals — The nomenclature read" in printed
    # Every rule with a review: key is listed.
    reviews = sum(1 for d in documents for r in d.rules if r["review"])
    assert reviews > 0
    assert page.count('class="review"><td><code>') == reviews
    assert f'<td class="n">{rules}</td>' in page
    assert 'id="area-spine"' in page and "ZBQK002" in page


def test_the_report_counts_a_source_as_old_from_the_date_given(tmp_path: Path) -> None:
    out = StringIO()
    call_command(
        "rulepack_report", "--html", str(tmp_path / "r.html"), "--today", "2022-01-01", stdout=out
    )
    old = out.getvalue().split("2012)")[1].split("\n\n")[0]
    # In 2022 the 2013 guide is not yet ten years old; the 2011 HAS text is.
    assert "cognitive-decline" in old
    assert "renal-colic" not in old


def test_the_report_reads_a_rule_set_in_english(
    published: RuleSet, tmp_path: Path, actors: Actors
) -> None:
    out = StringIO()
    target = tmp_path / "set.html"
    call_command(
        "rulepack_report",
        "--rule-set",
        str(published.version),
        "--lang",
        "en",
        "--html",
        str(target),
        stdout=out,
    )
    page = target.read_text(encoding="utf-8")
    assert '<html lang="en">' in page
    assert f"v{published.version}" in out.getvalue()
    assert "Sudden headache (test)" in page


def test_the_report_of_a_missing_rule_set_is_an_error(db: None, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="No rule set v999"):
        call_command("rulepack_report", "--rule-set", "999", "--html", str(tmp_path / "x.html"))


def test_the_report_date_defaults_to_today(tmp_path: Path) -> None:
    out = StringIO()
    call_command("rulepack_report", "--html", str(tmp_path / "r.html"), stdout=out)
    assert date.today().isoformat() in out.getvalue()


# --- # review: comments into keys ---------------------------------------------------------


def test_review_comments_become_keys_on_the_rule_they_annotate() -> None:
    from guidelines.management.commands.rulepack_review_comments import review_comments_convert

    text = (
        "area: spine\nrules:\n"
        '  # review: above b "quoted"\n'
        "  - indication: b\n    procedure: x\n"
        "  - indication: c\n    procedure: y\n    # review: inside c\n"
        "golden_cases:\n  # review: not a rule's\n"
    )
    new, conversions, problems = review_comments_convert(text)
    assert problems == []
    assert [(c.line, c.rule_line) for c in conversions] == [(3, 4), (8, 6)]
    assert new == (
        "area: spine\nrules:\n"
        '  - indication: b\n    review: "above b \\"quoted\\""\n    procedure: x\n'
        '  - indication: c\n    review: "inside c"\n    procedure: y\n'
        "golden_cases:\n  # review: not a rule's\n"
    )


def test_two_review_comments_for_one_rule_are_refused_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    path = _pack_with_review(tmp_path, f'"{WHY}"')
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("rules:\n", "rules:\n  # review: a second opinion\n", 1))
    before = path.read_text(encoding="utf-8")
    with pytest.raises(CommandError, match="already has review"):
        call_command("rulepack_review_comments", str(path), "--write", stdout=StringIO())
    assert path.read_text(encoding="utf-8") == before


def test_the_command_writes_keys_that_load(db: None, tmp_path: Path) -> None:
    path = tmp_path / "test_neuro.yaml"
    text = TEST_PACK.read_text(encoding="utf-8")
    path.write_text(text.replace("rules:\n", f"rules:\n  # review: {WHY}\n", 1))
    out = StringIO()
    call_command("rulepack_review_comments", str(path), "--write", stdout=out)
    assert "the pack validates" in out.getvalue()
    rule_set = rulepack_load(paths=[path]).rule_set
    assert Rule.objects.filter(rule_set=rule_set, review=WHY).count() == 1
