"""How well the rule set in force reads a site's order texts: `manage.py
coverage_report orders.csv [--html out.html]`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.template.loader import render_to_string

from guidelines.coverage import Coverage, OrderFileError, coverage_compute, order_texts_read
from guidelines.engine import NoPublishedRuleSet, published_rule_set_compiled


class Command(BaseCommand):
    help = (
        "Read a CSV of exported order texts (a `text` column, else the first one) with the "
        "rule set in force; print and write as HTML the share understood, unsure and "
        "unmatched, the indications found and the most frequent unmatched phrases."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("csv", type=Path, help="The exported order texts (CSV, UTF-8).")
        parser.add_argument(
            "--html", type=Path, default=None, help="The HTML page (default: next to the CSV)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        source: Path = options["csv"]
        target: Path = options["html"] or source.with_suffix(".html")
        try:
            texts = order_texts_read(source)
        except OrderFileError as error:
            raise CommandError(str(error)) from error
        try:
            rules = published_rule_set_compiled()
        except NoPublishedRuleSet:
            raise CommandError("No rule set is published: load and publish one first.") from None
        coverage = coverage_compute(texts, rules)
        self.stdout.write(summary(coverage))
        page = render_to_string(
            "guidelines/coverage_report.html",
            {"coverage": coverage, "source": source.name, "version": rules.version},
        )
        try:
            target.write_text(page, encoding="utf-8")
        except OSError as error:
            raise CommandError(f"{target}: cannot be written ({error.strerror}).") from None
        self.stdout.write(f"HTML report: {target}")


def summary(coverage: Coverage) -> str:
    lines = [
        f"Order texts read: {coverage.total}",
        f"Situation found: {coverage.understood} ({coverage.understood_share:.1f} %)",
        f"Suggestion, not sure: {coverage.unsure} ({coverage.unsure_share:.1f} %)",
        f"Nothing found: {coverage.nothing} ({coverage.nothing_share:.1f} %)",
        "Top indications found:",
        *(f"  {i.count:>5}  {i.code}  {i.label_fr}" for i in coverage.indications),
        "Most frequent unmatched phrases (texts):",
        *(f"  {g.count:>5}  {g.phrase}  e.g. {' | '.join(g.examples)}" for g in coverage.unmatched),
    ]
    return "\n".join(lines)
