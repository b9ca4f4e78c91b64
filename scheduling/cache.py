"""The availability cache: what a search reads instead of the slot table.

Layout (Django's cache, Redis in production; keys below are before its prefix):

``av:cm:<centre>:<modality>``
    One entry per (centre, modality): the centre's facts, its machines of that
    modality with their capabilities, and the next free slots of each machine
    (at most ``AVAILABILITY_CACHE_SLOTS_PER_EQUIPMENT``), sorted by start, plus
    ``read_at``: when the feed behind them was read.
``av:geo:<modality>:<lat cell>:<lon cell>``
    A coarse geographic index: the centres having that modality in a
    ``CELL_DEGREES`` square, with their coordinates.
``av:geo:<modality>:cells``
    The cells that exist for a modality (its presence says the index is built).

A search reads the few cells around the patient in one round trip, keeps the
centres within reach, and reads their entries in a second; it never walks the
whole country in Python. Entries are rewritten from the database after each
refresh of a centre and after each hold, booking or release on it; a missing
entry is rebuilt from the database on read.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.core.cache import cache
from django.db.models import F, Q, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from imaging_cds.vocab import Modality
from scheduling.models import Centre, Equipment, FeedState, Slot, SlotStatus

CELL_DEGREES = 0.5
KM_PER_DEGREE_LAT = 111.2
ENTRY_TIMEOUT = 7 * 24 * 3600


class CentreFacts(NamedTuple):
    id: int
    name: str
    town: str
    kind: str
    sector: str
    latitude: float
    longitude: float
    wheelchair_accessible: bool


def centre_facts(centre: Any) -> CentreFacts:
    """What the search and the booking checks need of a Centre row."""
    return CentreFacts(
        centre.pk,
        centre.name,
        centre.town,
        centre.kind,
        centre.price_sector,
        centre.latitude,
        centre.longitude,
        centre.wheelchair_accessible,
    )


class MachineFacts(NamedTuple):
    id: int
    name: str
    open_bore: bool
    wide_bore: bool
    table_max_weight_kg: int
    paediatric: bool
    contrast_injection: bool
    sedation: bool
    procedure_codes: tuple[str, ...]


def machine_facts(machine: Equipment) -> MachineFacts:
    return MachineFacts(
        machine.pk,
        machine.name,
        machine.open_bore,
        machine.wide_bore,
        machine.table_max_weight_kg,
        machine.paediatric,
        machine.contrast_injection,
        machine.sedation,
        tuple(machine.procedure_codes),
    )


# (start timestamp, end timestamp, slot id, equipment id): plain tuples, the
# bulk of every entry, are the cheapest thing to unpickle.
SlotTuple = tuple[float, float, int, int]


@dataclass(frozen=True)
class Entry:
    read_at: float
    centre: CentreFacts
    machines: dict[int, MachineFacts]
    slots: list[SlotTuple]


def entry_key(centre_id: int, modality: str) -> str:
    return f"av:cm:{centre_id}:{modality}"


def cell_of(latitude: float, longitude: float) -> tuple[int, int]:
    return math.floor(latitude / CELL_DEGREES), math.floor(longitude / CELL_DEGREES)


def cell_key(modality: str, cell: tuple[int, int]) -> str:
    return f"av:geo:{modality}:{cell[0]}:{cell[1]}"


def cells_key(modality: str) -> str:
    return f"av:geo:{modality}:cells"


def cells_bounds(
    latitude: float, longitude: float, radius_km: float
) -> tuple[tuple[int, int], tuple[int, int]]:
    """The first and last cell of the box around a point (a superset of the radius)."""
    dlat = radius_km / KM_PER_DEGREE_LAT
    dlon = radius_km / (KM_PER_DEGREE_LAT * max(math.cos(math.radians(latitude)), 0.01))
    return cell_of(latitude - dlat, longitude - dlon), cell_of(latitude + dlat, longitude + dlon)


# --- Building entries from the database ------------------------------------------


def entries_build(
    centre_ids: Iterable[int], *, modalities: Iterable[str] | None = None
) -> dict[tuple[int, str], Entry]:
    """The cache entries of these centres, read from the database now."""
    ids = list(set(centre_ids))
    if not ids:
        return {}
    now = timezone.now()
    horizon = now + timedelta(days=settings.AVAILABILITY_HORIZON_DAYS)
    per_machine = settings.AVAILABILITY_CACHE_SLOTS_PER_EQUIPMENT
    equipment = Equipment.objects.filter(centre_id__in=ids)
    if modalities is not None:
        equipment = equipment.filter(modality__in=list(modalities))
    machines = list(equipment)
    centres = {
        c.pk: c
        for c in Centre.objects.filter(pk__in={m.centre_id for m in machines}).only(
            "id",
            "name",
            "town",
            "kind",
            "price_sector",
            "latitude",
            "longitude",
            "wheelchair_accessible",
        )
    }
    read_times: dict[int, datetime] = {
        centre_id: at
        for centre_id, at in FeedState.objects.filter(centre_id__in=ids).values_list(
            "centre_id", "last_success_at"
        )
        if at is not None
    }
    free = Q(status=SlotStatus.FREE) | Q(status=SlotStatus.HELD, held_until__lt=now)
    rows = (
        Slot.objects.filter(free, equipment__in=[m.pk for m in machines])
        .filter(start__gte=now, start__lt=horizon)
        .annotate(
            rank=Window(RowNumber(), partition_by=[F("equipment_id")], order_by=F("start").asc())
        )
        .filter(rank__lte=per_machine)
        .values_list("start", "end", "id", "equipment_id")
    )
    slots_by_machine: dict[int, list[SlotTuple]] = {}
    for start, end, slot_id, equipment_id in rows:
        slots_by_machine.setdefault(equipment_id, []).append(
            (start.timestamp(), end.timestamp(), slot_id, equipment_id)
        )
    entries: dict[tuple[int, str], Entry] = {}
    for machine in machines:
        centre = centres[machine.centre_id]
        key = (centre.pk, machine.modality)
        if key not in entries:
            read_at = read_times.get(centre.pk, now)
            entries[key] = Entry(
                read_at=read_at.timestamp(),
                centre=centre_facts(centre),
                machines={},
                slots=[],
            )
        entry = entries[key]
        entry.machines[machine.pk] = machine_facts(machine)
        entry.slots.extend(slots_by_machine.get(machine.pk, []))
    for entry in entries.values():
        entry.slots.sort()
    return entries


# --- Writing --------------------------------------------------------------------


def cache_write_centres(centre_ids: Iterable[int]) -> int:
    """Rewrite every entry of these centres from the database; returns how many."""
    ids = list(centre_ids)
    entries = entries_build(ids)
    cache.set_many({entry_key(c, m): e for (c, m), e in entries.items()}, timeout=ENTRY_TIMEOUT)
    # A modality a centre no longer has must not linger in the cache.
    stale = [entry_key(c, m.value) for c in ids for m in Modality if (c, m.value) not in entries]
    cache.delete_many(stale)
    return len(entries)


def index_rebuild() -> int:
    """Rebuild the geographic index of every modality from the database."""
    rows = (
        Equipment.objects.values_list(
            "modality", "centre_id", "centre__latitude", "centre__longitude"
        )
        .distinct()
        .order_by()
    )
    cells: dict[str, dict[tuple[int, int], list[tuple[int, float, float]]]] = {
        m.value: {} for m in Modality
    }
    for modality, centre_id, lat, lon in rows:
        cells[modality].setdefault(cell_of(lat, lon), []).append((centre_id, lat, lon))
    old = cache.get_many([cells_key(m) for m in cells])
    to_set: dict[str, object] = {}
    to_delete: list[str] = []
    for modality, by_cell in cells.items():
        for cell, members in by_cell.items():
            to_set[cell_key(modality, cell)] = tuple(sorted(set(members)))
        to_set[cells_key(modality)] = tuple(sorted(by_cell))
        previous = old.get(cells_key(modality)) or ()
        to_delete.extend(cell_key(modality, c) for c in previous if c not in by_cell)
    cache.set_many(to_set, timeout=None)
    cache.delete_many(to_delete)
    return sum(len(v) for v in cells.values())


# --- Reading --------------------------------------------------------------------


def centres_near(
    modalities: Iterable[str], latitude: float, longitude: float, radius_km: float
) -> dict[str, list[tuple[int, float, float]]]:
    """Centres per modality in the cells around a point (a superset of the radius).

    Only the cells that hold a centre are read (each modality's list of occupied
    cells), never every cell of the box: with no known location the radius is the
    whole Earth, and enumerating its cells took minutes."""
    wanted = list(modalities)
    occupied = cache.get_many([cells_key(m) for m in wanted])
    if any(cells_key(m) not in occupied for m in wanted):
        index_rebuild()
        occupied = cache.get_many([cells_key(m) for m in wanted])
    (lat0, lon0), (lat1, lon1) = cells_bounds(latitude, longitude, radius_km)
    inside = {
        m: [
            c
            for c in occupied.get(cells_key(m), ())
            if lat0 <= c[0] <= lat1 and lon0 <= c[1] <= lon1
        ]
        for m in wanted
    }
    found = cache.get_many([cell_key(m, c) for m in wanted for c in inside[m]])
    return {
        m: [member for c in inside[m] for member in found.get(cell_key(m, c), ())] for m in wanted
    }


def entries_read(pairs: Iterable[tuple[int, str]]) -> dict[tuple[int, str], Entry]:
    """The cached entries of these (centre, modality) pairs, rebuilding missing ones."""
    wanted = list(pairs)
    found = cache.get_many([entry_key(c, m) for c, m in wanted])
    entries = {(c, m): found[entry_key(c, m)] for c, m in wanted if entry_key(c, m) in found}
    missing = [(c, m) for c, m in wanted if (c, m) not in entries]
    if missing:
        built = entries_build({c for c, _ in missing})
        cache.set_many({entry_key(c, m): e for (c, m), e in built.items()}, timeout=ENTRY_TIMEOUT)
        entries.update({k: built[k] for k in missing if k in built})
    return entries


def read_at_datetime(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=timezone.get_current_timezone())
