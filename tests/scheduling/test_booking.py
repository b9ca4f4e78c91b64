"""Hold, book, release, cancel: exactly one booking per slot, even under contention."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from scheduling.availability import ProcedureNeed
from scheduling.models import Booking, BookingStatus, Slot, SlotStatus
from scheduling.services.booking import (
    SlotTakenError,
    booking_cancel,
    holds_release_expired,
    slot_book,
    slot_hold,
    slot_release,
)
from scheduling.services.feeds import availability_refresh
from tests.scheduling.conftest import make_centre, make_machine

MRI = ProcedureNeed(code="MR-KNEE", modality="MR", duration_minutes=20)


@pytest.fixture
def slots(db: None) -> list[Slot]:
    centre = make_centre()
    make_machine(centre)
    assert availability_refresh(centre_id=centre.pk).ok
    return list(Slot.objects.filter(status=SlotStatus.FREE).order_by("start")[:5])


def test_a_held_slot_is_booked_by_its_holder_and_by_nobody_else(slots, actors) -> None:
    slot = slots[0]
    hold = slot_hold(slot_id=slot.pk, user=actors.alice, procedure=MRI)
    assert hold.held_until > timezone.now() + timedelta(minutes=9)
    with pytest.raises(SlotTakenError) as taken:
        slot_book(slot_id=slot.pk, user=actors.bob, procedure=MRI)
    assert taken.value.code == "slot_taken"
    assert [a.slot_id for a in taken.value.alternatives][:2] == [slots[1].pk, slots[2].pk]
    with pytest.raises(SlotTakenError):
        slot_hold(slot_id=slot.pk, user=actors.bob)
    booking = slot_book(slot_id=slot.pk, user=actors.alice, procedure=MRI, reference="c-1")
    slot.refresh_from_db()
    assert slot.status == SlotStatus.BOOKED and slot.held_by is None
    assert (booking.procedure_code, booking.reference) == ("MR-KNEE", "c-1")


def test_the_hold_time_comes_from_settings(slots, actors, settings) -> None:
    settings.SLOT_HOLD_SECONDS = 60
    hold = slot_hold(slot_id=slots[0].pk, user=actors.alice)
    assert hold.held_until < timezone.now() + timedelta(seconds=61)


def test_a_released_hold_frees_the_slot(slots, actors) -> None:
    slot_hold(slot_id=slots[0].pk, user=actors.alice)
    assert slot_release(slot_id=slots[0].pk, user=actors.bob) is False
    assert slot_release(slot_id=slots[0].pk, user=actors.alice) is True
    slot_hold(slot_id=slots[0].pk, user=actors.bob)


def test_an_expired_hold_can_be_taken_and_is_released_by_the_periodic_sweep(slots, actors) -> None:
    slot_hold(slot_id=slots[0].pk, user=actors.alice)
    slot_hold(slot_id=slots[1].pk, user=actors.alice)
    past = timezone.now() - timedelta(seconds=1)
    Slot.objects.filter(pk__in=[slots[0].pk, slots[1].pk]).update(held_until=past)
    # Lazily: an expired hold does not stop another prescriber.
    slot_book(slot_id=slots[0].pk, user=actors.bob, procedure=MRI)
    assert holds_release_expired() == 1
    assert Slot.objects.get(pk=slots[1].pk).status == SlotStatus.FREE


def test_a_cancelled_booking_frees_its_slot(slots, actors) -> None:
    booking = slot_book(slot_id=slots[0].pk, user=actors.alice, procedure=MRI)
    with pytest.raises(ValidationError) as other:
        booking_cancel(booking_id=booking.pk, user=actors.bob)
    assert other.value.code == "not_found"
    booking_cancel(booking_id=booking.pk, user=actors.alice)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED and booking.cancelled_at
    assert Slot.objects.get(pk=slots[0].pk).status == SlotStatus.FREE
    slot_book(slot_id=slots[0].pk, user=actors.bob, procedure=MRI)


def test_a_withdrawn_or_past_slot_cannot_be_booked(slots, actors) -> None:
    Slot.objects.filter(pk=slots[0].pk).update(status=SlotStatus.WITHDRAWN)
    with pytest.raises(SlotTakenError):
        slot_book(slot_id=slots[0].pk, user=actors.alice, procedure=MRI)


def _race(action, slot_id: int, users: list[User]) -> tuple[list[object], list[Exception]]:
    barrier = threading.Barrier(len(users))
    wins: list[object] = []
    losses: list[Exception] = []
    lock = threading.Lock()

    def attempt(user: User) -> None:
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

    threads = [threading.Thread(target=attempt, args=(u,)) for u in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return wins, losses


@pytest.mark.django_db(transaction=True)
def test_of_24_concurrent_bookings_of_one_slot_exactly_one_succeeds() -> None:
    centre = make_centre()
    make_machine(centre)
    assert availability_refresh(centre_id=centre.pk).ok
    target = Slot.objects.filter(status=SlotStatus.FREE).order_by("start")[0]
    users = [User.objects.create_user(f"prescriber{i}") for i in range(24)]

    def book(*, slot_id: int, user: User) -> Booking:
        return slot_book(slot_id=slot_id, user=user, procedure=MRI)

    wins, losses = _race(book, target.pk, users)
    assert len(wins) == 1 and len(losses) == 23
    assert all(isinstance(e, SlotTakenError) for e in losses), losses
    assert all(
        isinstance(e, SlotTakenError) and e.alternatives[0].slot_id != target.pk for e in losses
    )
    assert Booking.objects.filter(slot=target, status=BookingStatus.BOOKED).count() == 1
    assert Slot.objects.get(pk=target.pk).status == SlotStatus.BOOKED


@pytest.mark.django_db(transaction=True)
def test_of_24_concurrent_holds_of_one_slot_exactly_one_succeeds() -> None:
    centre = make_centre()
    make_machine(centre)
    assert availability_refresh(centre_id=centre.pk).ok
    target = Slot.objects.filter(status=SlotStatus.FREE).order_by("start")[0]
    users = [User.objects.create_user(f"holder{i}") for i in range(24)]

    def hold(*, slot_id: int, user: User) -> object:
        return slot_hold(slot_id=slot_id, user=user)

    wins, losses = _race(hold, target.pk, users)
    assert len(wins) == 1 and all(isinstance(e, SlotTakenError) for e in losses)
    assert len(losses) == 23
