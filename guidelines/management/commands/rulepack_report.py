"""The content report a medical director signs off: `manage.py rulepack_report
[--html report.html] [--rule-set VERSION] [--lang fr|en]`."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.template.loader import render_to_string
from django.utils import translation

from guidelines.catalogue import CATALOGUE_FILE
from guidelines.codes import code_tables_parse
from guidelines.models import Procedure, RuleSet
from guidelines.report import RulePackReport, report_build
from guidelines.rulepack import (
    RulePackInvalid,
    documents_parse,
    pack_files,
    packs_parse_with_codes,
)

DEFAULT_HTML = Path("rulepack-report.html")


class Command(BaseCommand):
    help = (
        "Print, and write as an HTML page, the rule pack's content: situations per area, "
        "rules, golden cases, sources with years, sources older than ten years, exams "
        "without a verified CCAM code (with why), CIM-10 codes, rules that need a "
        "clinician's review. Reads the pack files, or a rule set with --rule-set."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--html", type=Path, default=DEFAULT_HTML, help=f"The HTML page ({DEFAULT_HTML})."
        )
        parser.add_argument(
            "--rule-set", type=int, default=None, help="Report this rule set version instead."
        )
        parser.add_argument("--lang", choices=["fr", "en"], default="fr", help="Language (fr).")
        parser.add_argument(
            "--today",
            type=date.fromisoformat,
            default=None,
            help="The date the ten-year age of sources is counted from (YYYY-MM-DD; today).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        with translation.override(options["lang"]):
            try:
                report = (
                    _rule_set_report(options["rule_set"], options["today"])
                    if options["rule_set"] is not None
                    else _pack_report(options["today"])
                )
            except RulePackInvalid as exc:
                raise CommandError(f"The rule pack is invalid:\n{exc}") from exc
            context = {"report": report, "lang": options["lang"]}
            self.stdout.write(render_to_string("guidelines/rulepack_report.txt", context))
            page = render_to_string("guidelines/rulepack_report.html", context)
        target: Path = options["html"]
        try:
            target.write_text(page, encoding="utf-8")
        except OSError as error:
            raise CommandError(f"{target}: cannot be written ({error.strerror}).") from None
        self.stdout.write(f"HTML: {target}")


def _pack_report(today: date | None) -> RulePackReport:
    import yaml

    paths = pack_files()
    documents, tables = packs_parse_with_codes(paths)
    rows = yaml.safe_load(CATALOGUE_FILE.read_text(encoding="utf-8")) or []
    catalogue = {r["code"]: {"label_fr": r["label_fr"], "label_en": r["label_en"]} for r in rows}
    for document in documents:
        for row in document.procedures:
            catalogue[row["code"]] = {"label_fr": row["label_fr"], "label_en": row["label_en"]}
    title = ", ".join(path.name for path in paths)
    return report_build(documents, tables, catalogue=catalogue, title=title, today=today)


def _rule_set_report(version: int, today: date | None) -> RulePackReport:
    from guidelines.services.transfer import rule_set_export

    rule_set = RuleSet.objects.filter(version=version).first()
    if rule_set is None:
        raise CommandError(f"No rule set v{version}.")
    catalogue = {
        p.code: {"label_fr": p.label_fr, "label_en": p.label_en} for p in Procedure.objects.all()
    }
    # The set read back through the pack reader: one shape for both reports.
    text = rule_set_export(rule_set=rule_set, fmt="yaml")
    documents = documents_parse(
        [(f"v{version}", text, "yaml")], known_procedures=catalogue, export_format=True
    )
    tables = code_tables_parse(
        procedures=catalogue,
        indications={i["code"] for d in documents for i in d.indications},
        unknown_waits=True,
    )
    title = f"v{version} ({rule_set.get_status_display()})"
    return report_build(documents, tables, catalogue=catalogue, title=title, today=today)
