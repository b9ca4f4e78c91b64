"""An exam longer than its machine's slot takes consecutive free slots of that machine:
found by the search (cache and database alike), held, booked, released and expired as
one run, never double-booked under contention."""

from __future__ import annotations

import random
import threading
from datetime import timedelta
from itertools import pairwise

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from scheduling import cache as availability_cache
from scheduling.availability import PatientLocation, ProcedureNeed, Source, available_options
from scheduling.models import Booking, BookingSlot, BookingStatus, Equipment, Slot, SlotStatus
from scheduling.services.booking import (
    SlotTakenError,
    SlotUnsuitableError,
    booking_cancel,
    holds_release_expired,
    slot_book,
    slot_hold,
    slot_release,
)
from scheduling.services.feeds import availability_refresh
from tests.orthanc import free_port
from tests.scheduling.conftest import make_centre, make_machine

RENNES = PatientLocation(48.1114, -1.6800, "Rennes")
# 40 minutes on a machine cut into 20-minute slots: two slots back to back.
LONG_MRI = ProcedureNeed(code="MR-PELVIS", modality="MR", duration_minutes=40)


def _machine_with_slots() -> Equipment:
    centre = make_centre()
    machine = make_machine(centre, slot_minutes=20)
    assert availability_refresh(centre_id=centre.pk).ok
    availability_cache.cache_write_centres([centre.pk])
    return machine


def _free(machine: Equipment) -> list[Slot]:
    return list(Slot.objects.filter(equipment=machine, status=SlotStatus.FREE).order_by("start"))


def _consecutive(run: list[Slot]) -> bool:
    return all(a.end == b.start and a.equipment_id == b.equipment_id for a, b in pairwise(run))


def _back_to_back(machine: Equipment, count: int) -> list[Slot]:
    """The first ``count`` free slots of the machine that follow each other with no gap.
    The first free slots alone would depend on the time of day the test runs: late in
    the afternoon they straddle the night, and a run cannot cross it."""
    free = _free(machine)
    for index in range(len(free) - count + 1):
        window = free[index : index + count]
        if _consecutive(window):
            return window
    raise AssertionError(f"no {count} back-to-back free slots")


@pytest.mark.django_db
def test_a_40_minute_mri_is_offered_as_two_consecutive_20_minute_slots(clear_cache) -> None:
    _machine_with_slots()
    result = available_options([LONG_MRI], RENNES)
    assert result.options and not result.procedures_without_options and not result.no_slot
    for option in result.options:
        run = list(Slot.objects.filter(pk__in=option.slot_ids).order_by("start"))
        assert len(run) == 2 and option.slot_ids[0] == option.slot_id
        assert _consecutive(run)
        assert (option.start, option.end) == (run[0].start, run[1].end)
        assert option.end - option.start == timedelta(minutes=40)


@pytest.mark.django_db
@pytest.mark.parametrize("source", [Source.CACHE, Source.DATABASE])
def test_a_run_broken_by_a_taken_slot_is_not_offered(clear_cache, actors, source) -> None:
    machine = _machine_with_slots()
    slots = _back_to_back(machine, 4)
    # The second of four back-to-back slots goes: a run from the first would cross it.
    slot_book(slot_id=slots[1].pk, user=actors.bob, procedure=ProcedureNeed("MR-KNEE", "MR"))
    availability_cache.cache_write_centres([machine.centre_id])
    dead = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    if source is Source.DATABASE:
        with override_settings(CACHES=dead):
            result = available_options([LONG_MRI], RENNES, per_centre=5)
    else:
        result = available_options([LONG_MRI], RENNES, per_centre=5)
    assert result.source is source
    offered = [o.slot_ids for o in result.options]
    assert all(slots[1].pk not in run for run in offered)
    assert slots[0].pk not in {o.slot_id for o in result.options}
    assert (slots[2].pk, slots[3].pk) in offered


@pytest.mark.django_db
def test_a_40_minute_mri_is_held_and_booked_as_two_consecutive_slots(actors) -> None:
    machine = _machine_with_slots()
    first, second, third, fourth = _back_to_back(machine, 4)
    hold = slot_hold(slot_id=first.pk, user=actors.alice, procedure=LONG_MRI)
    assert hold.slot_ids == (first.pk, second.pk)
    assert hold.end == first.start + timedelta(minutes=40)
    held = Slot.objects.filter(pk__in=hold.slot_ids)
    assert {(s.status, s.held_by_id, s.run_head_id) for s in held} == {
        (SlotStatus.HELD, actors.alice.pk, first.pk)
    }
    # Bob's run from the second slot overlaps Alice's: refused, and told what is next.
    with pytest.raises(SlotTakenError) as taken:
        slot_hold(slot_id=second.pk, user=actors.bob, procedure=LONG_MRI)
    assert (third.pk, fourth.pk) in [a.slot_ids for a in taken.value.alternatives]
    booking = slot_book(slot_id=first.pk, user=actors.alice, procedure=LONG_MRI, reference="c-2")
    assert [s.pk for s in booking.run_slots] == [first.pk, second.pk]
    assert booking.slot_id == first.pk and booking.end == second.end
    assert set(Slot.objects.filter(pk__in=hold.slot_ids).values_list("status", flat=True)) == {
        SlotStatus.BOOKED
    }
    booking_cancel(booking_id=booking.pk, user=actors.alice)
    assert set(Slot.objects.filter(pk__in=hold.slot_ids).values_list("status", flat=True)) == {
        SlotStatus.FREE
    }
    assert not BookingSlot.objects.filter(booking=booking, active=True).exists()
    # Free again: Bob books the same run.
    again = slot_book(slot_id=first.pk, user=actors.bob, procedure=LONG_MRI)
    assert [s.pk for s in again.run_slots] == [first.pk, second.pk]


@pytest.mark.django_db
def test_a_run_is_released_whole_and_expires_whole(actors) -> None:
    machine = _machine_with_slots()
    first, second, third, fourth = _back_to_back(machine, 4)
    slot_hold(slot_id=first.pk, user=actors.alice, procedure=LONG_MRI)
    assert slot_release(slot_id=first.pk, user=actors.bob) is False
    assert slot_release(slot_id=first.pk, user=actors.alice) is True
    assert set(
        Slot.objects.filter(pk__in=[first.pk, second.pk]).values_list("status", flat=True)
    ) == {SlotStatus.FREE}
    hold = slot_hold(slot_id=third.pk, user=actors.alice, procedure=LONG_MRI)
    Slot.objects.filter(pk__in=hold.slot_ids).update(
        held_until=timezone.now() - timedelta(seconds=1)
    )
    assert holds_release_expired() == 2
    rows = Slot.objects.filter(pk__in=[third.pk, fourth.pk])
    assert {(s.status, s.held_by_id, s.run_head_id) for s in rows} == {
        (SlotStatus.FREE, None, None)
    }


@pytest.mark.django_db
def test_a_run_cut_short_by_the_closing_time_is_refused_as_unsuitable(actors) -> None:
    machine = _machine_with_slots()
    last_of_day = next(
        s for s in _free(machine) if timezone.localtime(s.end).strftime("%H:%M") == "18:00"
    )
    with pytest.raises(SlotUnsuitableError) as refused:
        slot_hold(slot_id=last_of_day.pk, user=actors.alice, procedure=LONG_MRI)
    assert "40" in refused.value.messages[0]
    assert Slot.objects.get(pk=last_of_day.pk).status == SlotStatus.FREE


def _race(action, starts: list[int], users: list[User]) -> tuple[list[object], list[Exception]]:
    barrier = threading.Barrier(len(users))
    wins: list[object] = []
    losses: list[Exception] = []
    lock = threading.Lock()

    def attempt(user: User, slot_id: int) -> None:
        try:
            barrier.wait()
            result = action(slot_id=slot_id, user=user)
            with lock:
                wins.append(result)
        except Exception as exc:  # collected and checked below
            with lock:
                losses.append(exc)
        finally:
            connection.close()  # each thread had its own PostgreSQL connection

    pairs = zip(users, starts, strict=True)
    threads = [threading.Thread(target=attempt, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return wins, losses


@pytest.mark.django_db(transaction=True)
def test_concurrent_holds_and_bookings_of_overlapping_runs_never_double_book() -> None:
    machine = _machine_with_slots()
    slots = _back_to_back(machine, 6)
    users = [User.objects.create_user(f"prescriber{i}") for i in range(24)]
    # Every run from the first five slots overlaps its neighbours.
    rng = random.Random(15)
    starts = [rng.choice(slots[:5]).pk for _ in users]

    def hold(*, slot_id: int, user: User) -> object:
        return slot_hold(slot_id=slot_id, user=user, procedure=LONG_MRI)

    wins, losses = _race(hold, starts, users)
    # No deadlock, no other error: every loser was told the slot was taken.
    assert wins and all(isinstance(e, SlotTakenError) for e in losses), losses
    runs = [set(w.slot_ids) for w in wins]  # type: ignore[attr-defined]
    assert sum(len(r) for r in runs) == len(set().union(*runs)), "two holds share a slot"
    for run in runs:
        holders = set(Slot.objects.filter(pk__in=run).values_list("held_by", flat=True))
        assert len(holders) == 1 and len(run) == 2

    Slot.objects.filter(equipment=machine).update(
        status=SlotStatus.FREE, held_by=None, held_until=None, run_head=None
    )
    starts = [rng.choice(slots[:5]).pk for _ in users]

    def book(*, slot_id: int, user: User) -> Booking:
        return slot_book(slot_id=slot_id, user=user, procedure=LONG_MRI)

    wins, losses = _race(book, starts, users)
    assert wins and all(isinstance(e, SlotTakenError) for e in losses), losses
    links = list(BookingSlot.objects.filter(active=True).values_list("slot_id", flat=True))
    assert len(links) == len(set(links)) == 2 * len(wins)
    assert Booking.objects.filter(status=BookingStatus.BOOKED).count() == len(wins)
    booked = set(Slot.objects.filter(status=SlotStatus.BOOKED).values_list("pk", flat=True))
    assert booked == set(links)


@pytest.mark.django_db
def test_slots_of_a_fhir_feed_that_follow_each_other_make_a_run(
    clear_cache, fhir_server, actors
) -> None:
    from tests.scheduling.fhir_server import slot_resource

    centre = make_centre(feed_url=fhir_server.url("feed"), feed_interval_seconds=300)
    make_machine(centre, "IRM", "MR", fhir_schedule="Schedule/irm")
    nine = (timezone.localtime() + timedelta(days=2)).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    fhir_server.serve(
        "feed",
        [
            # 09:00 and 09:20 back to back; 10:00 alone (09:40 is not free at the centre).
            slot_resource("a", "Schedule/irm", nine),
            slot_resource("b", "Schedule/irm", nine + timedelta(minutes=20)),
            slot_resource("c", "Schedule/irm", nine + timedelta(minutes=60)),
        ],
    )
    assert availability_refresh(centre_id=centre.pk).ok
    availability_cache.cache_write_centres([centre.pk])
    result = available_options([LONG_MRI], RENNES)
    ids = {s.external_id: s.pk for s in Slot.objects.filter(equipment__centre=centre)}
    assert [o.slot_ids for o in result.options] == [(ids["a"], ids["b"])]
    booking = slot_book(slot_id=ids["a"], user=actors.alice, procedure=LONG_MRI)
    assert [s.external_id for s in booking.run_slots] == ["a", "b"]
