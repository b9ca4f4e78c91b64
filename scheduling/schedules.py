"""Slots generated from a centre's own opening hours (for centres with no feed).

Each machine's day is cut into slots of its ``slot_minutes`` (the exam length the
centre declares for it) inside the opening windows. Generation is idempotent: a
slot is keyed by ``own:<start>`` per machine. Slots that are no longer wanted
(hours or slot length changed) are withdrawn if free, never when held or
booked; a wanted slot that would overlap a held or booked one is not created.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from scheduling.hours import DAY_KEYS
from scheduling.models import Centre, Equipment, Slot, SlotSource, SlotStatus


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


@dataclass(frozen=True)
class ScheduleOutcome:
    created: int
    withdrawn: int
    restored: int
    kept: int


def _wanted(
    centre: Centre, equipment: Equipment, now: datetime, horizon_days: int
) -> dict[str, tuple[datetime, datetime]]:
    step = timedelta(minutes=equipment.slot_minutes)
    today = timezone.localdate(now)
    wanted: dict[str, tuple[datetime, datetime]] = {}
    for offset in range(horizon_days):
        for start, end in opening_windows(centre, today + timedelta(days=offset)):
            cursor = start
            while cursor + step <= end:
                if cursor >= now:
                    wanted[f"own:{cursor.isoformat()}"] = (cursor, cursor + step)
                cursor += step
    return wanted


def own_schedule_sync(*, centre_id: int, horizon_days: int) -> ScheduleOutcome:
    """Bring a centre's own-schedule slots in line with its hours and machines."""
    centre = Centre.objects.prefetch_related("equipment").get(pk=centre_id)
    now = timezone.now()
    created = withdrawn = restored = kept = 0
    with transaction.atomic():
        for equipment in centre.equipment.all():
            wanted = _wanted(centre, equipment, now, horizon_days)
            existing = list(
                Slot.objects.select_for_update()
                .filter(equipment=equipment, source=SlotSource.OWN, end__gt=now)
                .only("id", "external_id", "status", "start", "end")
            )
            taken = [s for s in existing if s.status in (SlotStatus.HELD, SlotStatus.BOOKED)]
            by_key = {s.external_id: s for s in existing}
            to_withdraw = [
                s.pk
                for s in existing
                if s.status == SlotStatus.FREE and s.external_id not in wanted
            ]
            to_restore, to_create = [], []
            for key, (start, end) in wanted.items():
                slot = by_key.get(key)
                if slot is not None:
                    if slot.status == SlotStatus.WITHDRAWN and slot.end == end:
                        to_restore.append(slot.pk)
                    elif slot.status in (SlotStatus.FREE, SlotStatus.WITHDRAWN) and slot.end != end:
                        # The machine's slot length changed: same start, new end.
                        restored += Slot.objects.filter(pk=slot.pk).update(
                            end=end, status=SlotStatus.FREE
                        )
                    elif slot.status in (SlotStatus.HELD, SlotStatus.BOOKED):
                        kept += 1
                    continue
                if any(t.start < end and start < t.end for t in taken):
                    continue
                to_create.append(
                    Slot(
                        equipment=equipment,
                        start=start,
                        end=end,
                        status=SlotStatus.FREE,
                        source=SlotSource.OWN,
                        external_id=key,
                    )
                )
            withdrawn += Slot.objects.filter(pk__in=to_withdraw, status=SlotStatus.FREE).update(
                status=SlotStatus.WITHDRAWN
            )
            restored += Slot.objects.filter(pk__in=to_restore, status=SlotStatus.WITHDRAWN).update(
                status=SlotStatus.FREE
            )
            Slot.objects.bulk_create(to_create, batch_size=2000, ignore_conflicts=True)
            created += len(to_create)
    return ScheduleOutcome(created=created, withdrawn=withdrawn, restored=restored, kept=kept)


def own_schedule_generate(*, centre_id: int, horizon_days: int) -> int:
    """Create the missing free slots of a centre's own schedule; returns how many."""
    return own_schedule_sync(centre_id=centre_id, horizon_days=horizon_days).created
