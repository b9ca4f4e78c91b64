"""Loading the procedure catalogue from its data file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from django.db import transaction

from guidelines.models import Procedure

CATALOGUE_FILE = Path(__file__).parent / "data" / "procedures.yaml"


def procedure_catalogue_load(*, path: Path = CATALOGUE_FILE) -> int:
    """Create or update every procedure of the catalogue file; returns how many."""
    rows: list[dict[str, Any]] = yaml.safe_load(path.read_text(encoding="utf-8"))
    with transaction.atomic():
        for row in rows:
            fields = {key: value for key, value in row.items() if key != "code"}
            procedure = Procedure.objects.filter(code=row["code"]).first() or Procedure(
                code=row["code"]
            )
            for key, value in fields.items():
                setattr(procedure, key, value)
            procedure.full_clean()
            procedure.save()
    return len(rows)
