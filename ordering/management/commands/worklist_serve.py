"""Serve the centres' DICOM Modality Worklists (C-FIND, C-ECHO) as its own process."""

from __future__ import annotations

import contextlib
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from pydicom.dataset import Dataset

from ordering.pacs.worklist_scp import worklist_serve
from ordering.worklist import worklist_centre, worklist_find


def lookup(called_ae_title: str, query: Dataset) -> list[Dataset] | None:
    centre = worklist_centre(called_ae_title)
    if centre is None:
        return None
    return worklist_find(centre=centre, query=query)


class Command(BaseCommand):
    help = "Run the DICOM Modality Worklist SCP of the centres that have a worklist AE title."

    def add_arguments(self, parser: CommandParser) -> None:
        # Loopback by default: the worklist names patients; expose it on purpose only.
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=11113)

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"Worklist on {options['host']}:{options['port']}.", ending="\n")
        self.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):
            worklist_serve(host=options["host"], port=options["port"], lookup=lookup)
