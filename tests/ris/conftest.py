"""Shared pieces of the RIS delivery tests: a real MLLP listener, every demo centre
wired to it (MSH-5 names the centre, so the listener can tell them apart), and
orders signed through the prescriber's pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from ordering.models import Consultation, Order
from scheduling.models import Centre, RisEndpoint, RisProfile
from tests.actors import Actors
from tests.ordering.test_flow import PATIENT, first_slot
from tests.ris.mllp_listener import MllpListener


@pytest.fixture
def listener() -> Iterator[MllpListener]:
    server = MllpListener().start()
    yield server
    server.stop()


@pytest.fixture
def fast_retries(settings: Any) -> None:
    settings.OUTBOX_RETRY_BASE_SECONDS = 0.3
    settings.OUTBOX_RETRY_MAX_SECONDS = 2.0
    settings.MLLP_CONNECT_TIMEOUT = 2.0
    settings.MLLP_ANSWER_TIMEOUT = 2.0


def wire_centres(port: int) -> dict[str, int]:
    """Every demo centre sends to the listener; half take ORM^O01, half OMI^O23.
    Returns {MSH-5: centre id}."""
    names = {}
    for index, centre in enumerate(Centre.objects.order_by("pk")):
        application = f"RIS-{centre.pk}"
        RisEndpoint.objects.create(
            centre=centre,
            host="127.0.0.1",
            port=port,
            profile=RisProfile.ORM_O01 if index % 2 else RisProfile.OMI_O23,
            receiving_application=application,
            receiving_facility="CENTRE",
        )
        names[application] = centre.pk
    return names


@pytest.fixture
def alice(client: Client, actors: Actors) -> Client:
    client.force_login(actors.alice)
    return client


def sign(client: Client, number: int, indication: str = "breast-lump") -> Order:
    """Sign an order for a patient of its own (a second order for the same patient
    and exam would be asked about as a repeat), in the first slot offered."""
    data = {**PATIENT, "identifier": f"TESTRIS{number:03d}", "indication_code": indication}
    response = client.post("/orders/new/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    match = re.search(r"/orders/c/([0-9a-f-]{36})/", response["Location"])
    assert match
    consultation = Consultation.objects.get(pk=match.group(1))
    slot_id, code = first_slot(client.get(f"/orders/c/{consultation.pk}/").content.decode())
    signed = client.post(
        f"/orders/c/{consultation.pk}/sign/", {"slot_id": slot_id, "procedure_code": code}
    )
    assert signed.status_code == 302, signed.content.decode()[:2000]
    return Order.objects.get(consultation=consultation)
