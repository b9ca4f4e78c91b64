"""Slots generated from a centre's own opening hours (for centres with no feed)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from scheduling.models import Centre, Slot, SlotSource, SlotStatus

DAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_SLOT_MINUTES = 20


def _parse_hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def opening_windows(centre: Centre, day: date) -> list[tuple[datetime, datetime]]:
    """The opening windows of one day, as aware datetimes in the centre's time zone."""
    tz = ZoneInfo(settings.TIME_ZONE)
    windows = []
    for start_s, end_s in centre.opening_hours.get(DAY_KEYS[day.weekday()], []):
        start = datetime.combine(day, _parse_hhmm(start_s), tzinfo=tz)
        end = datetime.combine(day, _parse_hhmm(end_s), tzinfo=tz)
        if end > start:
            windows.append((start, end))
    return windows


def own_schedule_generate(
    *, centre_id: int, horizon_days: int, slot_minutes: int = DEFAULT_SLOT_MINUTES
) -> int:
    """Create the missing free slots of a centre's own schedule; returns how many.

    Idempotent: a slot is keyed by (equipment, start) through its external id, so a
    second run creates nothing and never touches held or booked slots.
    """
    centre = Centre.objects.prefetch_related("equipment").get(pk=centre_id)
    now = timezone.now()
    today = timezone.localdate(now)
    step = timedelta(minutes=slot_minutes)
    to_create: list[Slot] = []
    for equipment in centre.equipment.all():
        existing = set(
            Slot.objects.filter(
                equipment=equipment, source=SlotSource.OWN, start__gte=now
            ).values_list("external_id", flat=True)
        )
        for offset in range(horizon_days):
            for start, end in opening_windows(centre, today + timedelta(days=offset)):
                cursor = start
                while cursor + step <= end:
                    key = f"own:{cursor.isoformat()}"
                    if cursor >= now and key not in existing:
                        to_create.append(
                            Slot(
                                equipment=equipment,
                                start=cursor,
                                end=cursor + step,
                                status=SlotStatus.FREE,
                                source=SlotSource.OWN,
                                external_id=key,
                            )
                        )
                    cursor += step
    with transaction.atomic():
        Slot.objects.bulk_create(to_create, batch_size=2000, ignore_conflicts=True)
    return len(to_create)
