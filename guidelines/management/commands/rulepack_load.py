"""Load the rule pack files (guidelines/data/rulepack/*.yaml) into a new rule set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from guidelines.rulepack import RulePackInvalid, pack_files, rulepack_load
from guidelines.services.rulesets import PublishRefused


class Command(BaseCommand):
    help = "Validate and load the rule pack files into a new draft rule set (--publish: in force)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="*", type=Path, help="Pack files (default: all).")
        parser.add_argument("--publish", action="store_true", help="Publish the new set.")
        parser.add_argument("--check", action="store_true", help="Validate only; write nothing.")
        parser.add_argument("--label", default="", help="Label of the new rule set.")

    def handle(self, *args: Any, **options: Any) -> None:
        paths = options["files"] or pack_files()
        try:
            if options["check"]:
                from guidelines.rulepack import packs_parse_with_codes

                documents, tables = packs_parse_with_codes(paths)
                rules = sum(len(d.rules) for d in documents)
                self.stdout.write(f"{len(documents)} files valid, {rules} rules.")
                for table in (tables.ccam, tables.cim10):
                    loaded = len(table.entries) - len(table.waiting)
                    self.stdout.write(
                        f"{table.filename}: {loaded} entries valid"
                        + (
                            f", {len(table.waiting)} waiting for their code"
                            if table.waiting
                            else ""
                        )
                        + "."
                    )
                return
            result = rulepack_load(paths=paths, label=options["label"], publish=options["publish"])
        except RulePackInvalid as exc:
            raise CommandError(f"The rule pack is invalid; nothing was loaded:\n{exc}") from exc
        except PublishRefused as exc:
            failing = "\n".join(
                f"  {r.name}: "
                + ", ".join(f"{m.procedure} {m.expected}≠{m.actual}" for m in r.mismatches)
                for r in exc.run.failures
            )
            raise CommandError(f"Golden cases fail; nothing was loaded:\n{failing}") from exc
        except ValidationError as exc:
            raise CommandError(str(exc)) from exc
        state = "published" if result.published else "draft"
        self.stdout.write(
            f"Rule set v{result.rule_set.version} ({state}): {result.files} files, "
            f"{result.rules} rules, {result.golden_cases} golden cases."
        )
