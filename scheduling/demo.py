"""The demo territory: fictional centres in real towns (see data/demo_centres.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from django.db import transaction

from scheduling.models import Centre, Equipment

DEMO_CENTRES_FILE = Path(__file__).parent / "data" / "demo_centres.yaml"

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
HOURS_PRESETS: dict[str, dict[str, list[list[str]]]] = {
    "weekday": {day: [["08:00", "12:30"], ["13:30", "19:00"]] for day in _WEEKDAYS},
    "weekday_sat": {
        **{day: [["08:00", "12:30"], ["13:30", "19:00"]] for day in _WEEKDAYS},
        "sat": [["08:00", "12:30"]],
    },
    "long": {day: [["08:00", "20:00"]] for day in (*_WEEKDAYS, "sat", "sun")},
}


def demo_centres_load(*, path: Path = DEMO_CENTRES_FILE) -> list[Centre]:
    """Create the demo centres and their equipment (replacing a previous demo load)."""
    rows: list[dict[str, Any]] = yaml.safe_load(path.read_text(encoding="utf-8"))
    centres = []
    with transaction.atomic():
        for index, row in enumerate(rows, start=1):
            Centre.objects.filter(name=row["name"], town=row["town"]).delete()
            centre = Centre(
                name=row["name"],
                kind=row["kind"],
                price_sector=row["sector"],
                address=row["address"],
                postcode=row["postcode"],
                town=row["town"],
                latitude=row["lat"],
                longitude=row["lon"],
                opening_hours=HOURS_PRESETS[row["hours"]],
                wheelchair_accessible=row.get("wheelchair_accessible", True),
                # Fictional numbers: the patient's booking page lists centres to call.
                phone=row.get("phone") or f"02 99 00 10 {index:02d}",
            )
            centre.full_clean()
            centre.save()
            for item in row["equipment"]:
                equipment = Equipment(centre=centre, **item)
                equipment.full_clean()
                equipment.save()
            centres.append(centre)
    return centres
