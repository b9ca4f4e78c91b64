"""In the demo territory (the tests' world), MRI, nuclear medicine and Doppler exams are
bookable: an exam longer than its machine's slot is offered, held and signed as a run
of consecutive slots; with no slot the page says why."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from guidelines.models import Procedure
from ordering.models import Order
from scheduling.models import Equipment, Slot, SlotStatus
from tests.actors import Actors
from tests.ordering.test_flow import consultation_of, start
from tests.world import FlowPacs


@pytest.fixture
def alice(client: Client, actors: Actors) -> Client:
    client.force_login(actors.alice)
    return client


@pytest.mark.parametrize(
    ("indication", "code", "changes"),
    [
        ("low-back-pain-chronic", "mr-lumbar-spine", {"sex": "M"}),
        ("dvt-suspected", "us-leg-veins", {}),
        ("pulmonary-embolism-suspected", "nm-lung-vq", {"egfr": "25"}),
    ],
)
def test_mri_nuclear_medicine_and_doppler_exams_are_bookable_in_the_demo(
    alice: Client, world: FlowPacs, indication: str, code: str, changes: dict[str, str]
) -> None:
    consultation = consultation_of(start(alice, indication, **changes))
    rows = [o for o in consultation.outputs["options"] if o["procedure_code"] == code]
    assert rows and all(o["slot_id"] for o in rows), rows
    minutes = Procedure.objects.get(code=code).duration_minutes
    for row in rows:
        run = list(Slot.objects.filter(pk__in=row["slot_ids"]).order_by("start"))
        assert run[0].pk == row["slot_id"] and len({s.equipment_id for s in run}) == 1
        assert run[-1].end - run[0].start >= timedelta(minutes=minutes)
    # The demo's machines are cut shorter than these exams: some option takes a run.
    assert any(len(o["slot_ids"]) > 1 for o in rows)


def test_a_long_mri_is_held_and_signed_as_its_run_of_slots(alice: Client, world: FlowPacs) -> None:
    consultation = consultation_of(start(alice, "low-back-pain-chronic", sex="M"))
    row = next(
        o
        for o in consultation.outputs["options"]
        if o["procedure_code"] == "mr-lumbar-spine" and len(o["slot_ids"]) == 2
    )
    choice = {"slot_id": row["slot_id"], "procedure_code": "mr-lumbar-spine"}
    held = alice.post(f"/orders/c/{consultation.pk}/hold/", choice)
    assert held.status_code == 200
    run = list(Slot.objects.filter(pk__in=row["slot_ids"]).order_by("start"))
    assert f"–{timezone.localtime(run[-1].end):%H:%M}" in held.content.decode()
    assert {s.status for s in run} == {SlotStatus.HELD}
    signed = alice.post(f"/orders/c/{consultation.pk}/sign/", choice)
    assert signed.status_code == 302
    order = Order.objects.get(consultation=consultation)
    assert order.booking is not None
    assert [s.pk for s in order.booking.run_slots] == row["slot_ids"]
    assert set(Slot.objects.filter(pk__in=row["slot_ids"]).values_list("status", flat=True)) == {
        SlotStatus.BOOKED
    }
    alice.post(f"/orders/{order.pk}/cancel/")
    assert set(Slot.objects.filter(pk__in=row["slot_ids"]).values_list("status", flat=True)) == {
        SlotStatus.FREE
    }
    order.booking.refresh_from_db()
    assert order.booking.status == "cancelled"


def test_with_no_slot_the_page_says_why_and_what_to_do(alice: Client, world: FlowPacs) -> None:
    from ordering.decision import OptionFilters, consultation_options

    # Every Doppler slot of the territory is taken.
    doppler = Procedure.objects.get(code="us-leg-veins")
    machines = Equipment.objects.filter(modality="US")
    Slot.objects.filter(equipment__in=machines).update(status=SlotStatus.BOOKED)
    from scheduling.cache import cache_write_centres

    cache_write_centres(set(machines.values_list("centre_id", flat=True)))
    consultation = consultation_of(start(alice, "dvt-suspected"))
    page = alice.get(f"/orders/c/{consultation.pk}/").content.decode()
    reason = consultation_options(consultation, OptionFilters()).no_slot(doppler.code)
    assert reason is not None and reason.cause == "none_free"
    assert reason.message() in html.unescape(page)
    assert 'class="no-slot-advice"' in page
    # Nothing is free anywhere: the page does not send the GP to the distance filter.
    assert "widen_distance" not in reason.actions
