"""Serve the demo patients' studies over DICOM (C-FIND, C-ECHO) for the embedded default."""

from __future__ import annotations

import contextlib
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from ordering.demo_studies import demo_study_datasets
from ordering.pacs.scp import serve


class Command(BaseCommand):
    help = "Run the demo PACS: a C-FIND/C-ECHO SCP over the demo patients' studies."

    def add_arguments(self, parser: CommandParser) -> None:
        # Loopback by default: the demo holds (fictional) patient data.
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=None, help="Default: PACS_PORT.")
        parser.add_argument("--aet", default=None, help="Default: PACS_CALLED_AET.")

    def handle(self, *args: Any, **options: Any) -> None:
        port = options["port"] or int(settings.PACS_PORT)
        aet = options["aet"] or settings.PACS_CALLED_AET
        studies = demo_study_datasets(today=timezone.localdate())
        self.stdout.write(
            f"Demo PACS {aet} on {options['host']}:{port}: {len(studies)} studies.", ending="\n"
        )
        self.stdout.flush()
        # Ctrl-C (or make run's exit) ends the demo quietly.
        with contextlib.suppress(KeyboardInterrupt):
            serve(host=options["host"], port=port, called_aet=aet, studies=studies)
