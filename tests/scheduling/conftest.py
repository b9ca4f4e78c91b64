from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from scheduling.models import Centre, Equipment
from tests.scheduling.fhir_server import FhirServer

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")


@pytest.fixture(autouse=True)
def feeds_on_loopback_allowed(settings: Any) -> None:
    """The test FHIR servers listen on 127.0.0.1, which a deployment refuses unless
    FEED_ALLOWED_HOSTS lists it: these tests list it, as a deployment would."""
    settings.FEED_ALLOWED_HOSTS = ["127.0.0.1"]


@pytest.fixture
def fhir_server() -> Iterator[FhirServer]:
    server = FhirServer().start()
    yield server
    server.stop()


def make_centre(name: str = "Imagerie de test", **fields: object) -> Centre:
    values: dict[str, object] = {
        "kind": "private",
        "price_sector": "sector_1",
        "address": "1 rue de test",
        "postcode": "35000",
        "town": "Rennes",
        "latitude": 48.1114,
        "longitude": -1.68,
        "opening_hours": {d: [["08:00", "18:00"]] for d in WEEKDAYS},
    }
    values.update(fields)
    centre = Centre(name=name, **values)
    centre.full_clean()
    centre.save()
    return centre


def make_machine(
    centre: Centre, name: str = "IRM", modality: str = "MR", **fields: object
) -> Equipment:
    machine = Equipment(centre=centre, name=name, modality=modality, **fields)
    machine.full_clean()
    machine.save()
    return machine
