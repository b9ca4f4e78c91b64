"""`manage.py coverage_report`: a site's exported order texts read with the rule set in
force, on real PostgreSQL, with the small test pack."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from guidelines.engine import published_rule_set_compiled
from guidelines.models import RuleSet
from guidelines.understanding import understand

# Texts of the small test pack's headaches, and three that find nothing (two of them
# share the phrase "thyroidien annuel").
ORDERS = [
    "Céphalée brutale en coup de tonnerre depuis 2 heures",
    "migraine connue, céphalées chroniques, bilan",
    "céphalée",
    "Bilan thyroïdien annuel",
    "Suivi thyroïdien annuel; merci",
    "😀😀",
]


def run(*args: str) -> str:
    out = StringIO()
    call_command("coverage_report", *args, stdout=out)
    return out.getvalue()


def test_it_prints_the_shares_the_indications_and_the_unmatched_phrases_and_writes_html(
    published: RuleSet, tmp_path: Path
) -> None:
    source = tmp_path / "orders.csv"
    rows = ["id;text", *(f'{n};"{text}"' for n, text in enumerate(ORDERS)), "7;", ""]
    source.write_text("\n".join(rows), encoding="utf-8-sig")  # with a BOM, as Excel writes

    printed = run(str(source))

    # The report counts what the understanding stage answers for each text: the same
    # figures, whatever its calibration.
    rules = published_rule_set_compiled()
    readings = [understand(text, rules) for text in ORDERS]
    found = sum(r.understood for r in readings)
    unsure = sum(bool(r.suggestions) and not r.understood for r in readings)
    nothing = len(ORDERS) - found - unsure
    assert "Order texts read: 6" in printed
    assert f"Situation found: {found} ({found / 6:.1%})".replace("%", " %") in printed
    assert f"Suggestion, not sure: {unsure} ({unsure / 6:.1%})".replace("%", " %") in printed
    assert f"Nothing found: {nothing} ({nothing / 6:.1%})".replace("%", " %") in printed
    assert found >= 2 and nothing >= 2
    top = readings[0].indication_code
    assert top == "test-headache-sudden"
    count = sum(r.indication_code == top for r in readings)
    assert f"{count}  {top}" in printed
    assert "2  thyroidien annuel" in printed
    page = (tmp_path / "orders.html").read_text(encoding="utf-8")
    for figure in ("test-headache-sudden", "thyroidien annuel"):
        assert figure in page
    assert f"HTML report: {tmp_path / 'orders.html'}" in printed


def test_without_a_header_it_reads_the_first_column_with_a_comma_delimiter(
    published: RuleSet, tmp_path: Path
) -> None:
    source = tmp_path / "export.csv"
    source.write_text(
        '"Céphalée brutale, en coup de tonnerre",2024-01-02\n"migraine",2024-01-03\n',
        encoding="utf-8",
    )
    target = tmp_path / "out" / "report.html"
    target.parent.mkdir()

    printed = run(str(source), "--html", str(target))

    assert "Order texts read: 2" in printed
    assert "Situation found: 2 (100.0 %)" in printed
    assert "100,0 %" in target.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"", "the file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a CSV file"),
        ("céphalée".encode("latin-1"), "not UTF-8 text"),
        (b"id;text\n1;\n2;  \n", "no order text found"),
    ],
)
def test_a_file_that_is_missing_empty_or_not_a_csv_is_a_clear_error(
    published: RuleSet, tmp_path: Path, content: bytes | None, message: str
) -> None:
    source = tmp_path / "orders.csv"
    if content is not None:
        source.write_bytes(content)
    with pytest.raises(CommandError, match=message):
        run(str(source))
    assert not (tmp_path / "orders.html").exists()


def test_without_a_published_rule_set_it_says_so(db: None, tmp_path: Path) -> None:
    source = tmp_path / "orders.csv"
    source.write_text("migraine\n", encoding="utf-8")
    with pytest.raises(CommandError, match="No rule set is published"):
        run(str(source))
