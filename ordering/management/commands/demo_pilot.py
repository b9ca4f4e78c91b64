"""`manage.py demo_pilot`: eight weeks of a demo pilot (four silent, four active) so the
pilot report at /reports/pilot/ is filled. Replaces the previous demo pilot."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ordering.pilot.demo import demo_pilot_generate


class Command(BaseCommand):
    help = "Generate a demo pilot: 4 weeks silent then 4 weeks active, for the pilot report."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="Run even with DEBUG off.")
        parser.add_argument(
            "--seed", type=int, default=18, help="Random seed (same seed, same pilot)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError("demo_pilot writes made-up decisions; use --force.")
        try:
            counts = demo_pilot_generate(seed=options["seed"])
        except LookupError as missing:
            raise CommandError(str(missing)) from None
        self.stdout.write(
            f"Demo pilot: {counts.get('silent', 0)} silent and {counts.get('active', 0)} "
            "active decisions over 8 weeks; report at /reports/pilot/."
        )
