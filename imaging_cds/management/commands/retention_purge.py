"""manage.py retention_purge: delete what is older than RETENTION_DAYS (see
imaging_cds.retention). Run it daily, e.g. from cron."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from imaging_cds.retention import retention_purge


class Command(BaseCommand):
    help = "Delete consultations, orders and audit records older than RETENTION_DAYS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, help="Override RETENTION_DAYS for this run.")
        parser.add_argument("--dry-run", action="store_true", help="Count, delete nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        report = retention_purge(days=options["days"], dry_run=options["dry_run"])
        verb = "Would delete" if options["dry_run"] else "Deleted"
        self.stdout.write(
            f"{verb} records older than {report.cutoff:%Y-%m-%d %H:%M}: "
            f"{report.consultations} consultations, {report.orders} orders, "
            f"{report.audit_events} audit records; kept {report.kept_for_open_orders} "
            "consultations that open orders still need."
        )
