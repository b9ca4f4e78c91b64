"""When the search finds no slot for an exam it says why, and proposes only what would
help: a wider distance when a wider search finds a slot, lifting a filter when a filter
is what rules the machines out, calling a centre that can take the patient."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from django.utils import timezone, translation

from scheduling import cache as availability_cache
from scheduling.availability import (
    PatientConstraints,
    PatientLocation,
    ProcedureNeed,
    available_options,
)
from scheduling.models import Centre, Equipment, Slot, SlotStatus
from scheduling.no_slot import NoSlotAction, NoSlotCause
from scheduling.services.feeds import availability_refresh
from tests.scheduling.conftest import make_centre, make_machine

pytestmark = pytest.mark.django_db

RENNES = PatientLocation(48.1114, -1.6800, "Rennes")
MRI = ProcedureNeed(code="MR-KNEE", modality="MR", duration_minutes=30)


@pytest.fixture
def territory(clear_cache: None) -> dict[str, Equipment]:
    """Two MRI centres in Rennes (a private open-bore one taking 200 kg, a public one
    for children, up the stairs) and one in Saint-Malo, about 65 km away."""
    thabor = make_centre("Thabor", latitude=48.1139, longitude=-1.6688, phone="02 99 00 00 01")
    gregoire = make_centre(
        "Saint-Grégoire",
        latitude=48.1489,
        longitude=-1.6838,
        wheelchair_accessible=False,
        kind="public",
        phone="02 99 00 00 02",
    )
    malo = make_centre("Saint-Malo", latitude=48.6493, longitude=-2.0257, town="Saint-Malo")
    machines = {
        "open": make_machine(thabor, "IRM ouverte", open_bore=True, table_max_weight_kg=200),
        "closed": make_machine(gregoire, "IRM 3 T", paediatric=True),
        "far": make_machine(malo, "IRM"),
    }
    for centre in (thabor, gregoire, malo):
        assert availability_refresh(centre_id=centre.pk).ok
    availability_cache.cache_write_centres([thabor.pk, gregoire.pk, malo.pk])
    return machines


def _take_every_slot(*machines: Equipment) -> None:
    Slot.objects.filter(equipment__in=machines).update(status=SlotStatus.BOOKED)
    availability_cache.cache_write_centres({m.centre_id for m in machines})


def test_an_exam_no_machine_performs_nearby_proposes_the_distance_that_finds_one(
    territory,
) -> None:
    for name in ("open", "closed"):
        Equipment.objects.filter(pk=territory[name].pk).update(procedure_codes=["MR-BRAIN"])
    availability_cache.cache_write_centres(
        [territory["open"].centre_id, territory["closed"].centre_id]
    )
    result = available_options([MRI], RENNES)
    reason = result.no_slot["MR-KNEE"]
    assert reason.cause is NoSlotCause.NO_MACHINE
    assert reason.nearest_km is not None and 60 < reason.nearest_km < 70
    assert reason.widen_to_km == math.ceil(reason.nearest_km / 10) * 10
    assert reason.actions == (NoSlotAction.WIDEN_DISTANCE, NoSlotAction.ORDER_WITHOUT_BOOKING)
    with translation.override("en"):
        assert reason.message() == "No machine performs this exam within 50 km."
        assert f"{reason.widen_to_km} km" in reason.advice()[0]
    # The distance it proposes does find the slot.
    wider = available_options([MRI], RENNES, PatientConstraints(max_distance_km=reason.widen_to_km))
    assert {o.centre_name for o in wider.options} == {"Saint-Malo"}


def test_an_exam_no_machine_performs_anywhere_does_not_send_the_gp_to_the_distance(
    territory,
) -> None:
    scan = ProcedureNeed(code="NM-BONE", modality="NM", duration_minutes=60)
    reason = available_options([scan], RENNES).no_slot["NM-BONE"]
    assert reason.cause is NoSlotCause.NO_MACHINE and reason.widen_to_km is None
    assert reason.actions == (NoSlotAction.ORDER_WITHOUT_BOOKING,)
    # With no known place the search has no distance limit, and says so.
    unbounded = PatientConstraints(max_distance_km=100_000)
    reason = available_options([scan], RENNES, unbounded).no_slot["NM-BONE"]
    with translation.override("en"):
        assert reason.message() == "No machine performs this exam in the whole territory."


def test_machines_with_no_free_slot_are_named_with_their_phone_and_the_next_free_date(
    territory,
) -> None:
    _take_every_slot(*territory.values())
    later = timezone.now() + timedelta(days=45)
    Slot.objects.create(
        equipment=territory["closed"], start=later, end=later + timedelta(minutes=30)
    )
    reason = available_options([MRI], RENNES).no_slot["MR-KNEE"]
    assert reason.cause is NoSlotCause.NONE_FREE
    assert reason.next_free == later
    # Saint-Malo has no slot either: widening would not help, so it is not proposed.
    assert reason.actions == (NoSlotAction.CALL_CENTRE, NoSlotAction.ORDER_WITHOUT_BOOKING)
    assert [(c.name, c.phone) for c in reason.centres] == [
        ("Thabor", "02 99 00 00 01"),
        ("Saint-Grégoire", "02 99 00 00 02"),
    ]
    with translation.override("en"):
        assert "no free slot in the next 30 days" in reason.message()
        assert "Next free slot known" in reason.message()
        assert "02 99 00 00 01" in reason.advice()[0]


def test_a_run_too_short_everywhere_counts_as_no_free_slot_and_a_wider_search_is_offered(
    territory,
) -> None:
    # Every other slot taken in Rennes: single slots stay free, but no two in a row.
    for machine in (territory["open"], territory["closed"]):
        ids = list(
            Slot.objects.filter(equipment=machine).order_by("start").values_list("pk", flat=True)
        )
        Slot.objects.filter(pk__in=ids[1::2]).update(status=SlotStatus.BOOKED)
    availability_cache.cache_write_centres(
        [territory["open"].centre_id, territory["closed"].centre_id]
    )
    reason = available_options([MRI], RENNES).no_slot["MR-KNEE"]
    assert reason.cause is NoSlotCause.NONE_FREE
    assert reason.actions[0] is NoSlotAction.WIDEN_DISTANCE and reason.widen_to_km == 70


def test_the_patients_constraints_that_rule_every_machine_out_are_named(territory) -> None:
    Centre.objects.filter(name="Saint-Malo").update(wheelchair_accessible=False)
    availability_cache.cache_write_centres([territory["far"].centre_id])
    heavy = available_options([MRI], RENNES, PatientConstraints(weight_kg=250))
    reason = heavy.no_slot["MR-KNEE"]
    assert reason.cause is NoSlotCause.PATIENT and reason.excluded_by == ("weight",)
    assert reason.actions == (NoSlotAction.ORDER_WITHOUT_BOOKING,)
    child_in_wheelchair = PatientConstraints(paediatric=True, wheelchair=True)
    reason = available_options([MRI], RENNES, child_in_wheelchair).no_slot["MR-KNEE"]
    assert reason.cause is NoSlotCause.PATIENT
    assert set(reason.excluded_by) == {"child", "wheelchair"}
    with translation.override("en"):
        assert "not equipped for children" in reason.message()
        assert "not wheelchair accessible" in reason.message()


def test_a_filter_that_rules_out_the_only_suitable_machine_is_the_one_to_lift(territory) -> None:
    # 170 kg: only the private open-bore MRI takes the patient, and "public only" hides it.
    constraints = PatientConstraints(weight_kg=170, kinds=frozenset({"public"}))
    reason = available_options([MRI], RENNES, constraints).no_slot["MR-KNEE"]
    assert reason.cause is NoSlotCause.FILTERS
    assert reason.excluded_by == ("kind", "weight")
    assert reason.actions[0] is NoSlotAction.LIFT_FILTERS
    assert NoSlotAction.CALL_CENTRE not in reason.actions


def test_with_redis_down_the_reason_and_the_wider_search_come_from_the_database(
    territory,
) -> None:
    from django.test import override_settings

    from tests.orthanc import free_port

    for name in ("open", "closed"):
        Equipment.objects.filter(pk=territory[name].pk).update(procedure_codes=["MR-BRAIN"])
    availability_cache.cache_write_centres(
        [territory["open"].centre_id, territory["closed"].centre_id]
    )
    from_cache = available_options([MRI], RENNES).no_slot["MR-KNEE"]
    dead = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    with override_settings(CACHES=dead):
        result = available_options([MRI], RENNES)
    assert result.source == "database"
    assert result.no_slot["MR-KNEE"] == from_cache
    assert from_cache.widen_to_km == 70
