"""Free slots that fit a patient: the scheduling stage of the decision.

``available_options()`` takes plain data (what each procedure needs, where the
patient lives, what the patient requires) and returns plain data. It reads the
availability cache (scheduling.cache); when the cache cannot be reached it reads
the database instead and says so in the result. It never raises for a cache
outage.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from scheduling import cache as availability_cache
from scheduling.cache import Entry, SlotTuple
from scheduling.fit import (
    DEFAULT_RADIUS_KM,
    OpenBore,
    PatientConstraints,
    ProcedureNeed,
    centre_misfits,
    machine_fits,
    slot_run,
)
from scheduling.geo import haversine_km
from scheduling.models import Centre, FeedState
from scheduling.no_slot import MAX_RADIUS_KM, NoSlotReason, no_slot_reason

logger = logging.getLogger(__name__)

# Re-exported: callers import the search's vocabulary from here.
__all__ = [
    "DEFAULT_RADIUS_KM",
    "AvailabilityResult",
    "OpenBore",
    "PatientConstraints",
    "PatientLocation",
    "ProcedureNeed",
    "SlotOption",
    "Source",
    "available_options",
    "machine_fits",
    "slot_run",
]


@dataclass(frozen=True)
class PatientLocation:
    latitude: float
    longitude: float
    label: str = ""


@dataclass(frozen=True)
class SlotOption:
    procedure_code: str
    modality: str
    slot_id: int
    start: datetime
    end: datetime
    wait_days: int
    centre_id: int
    centre_name: str
    town: str
    kind: str
    sector: str
    distance_km: float
    wheelchair_accessible: bool
    equipment_id: int
    equipment_name: str
    open_bore: bool
    # When the feed behind this slot was read; the page shows its age.
    read_at: datetime
    # Preferences the option does not meet (e.g. "open_bore"): ranking may weigh them.
    unmet_preferences: tuple[str, ...] = ()
    # Every slot the exam takes, the first being ``slot_id``: an exam longer than the
    # machine's slot takes the slots that follow it back to back; ``end`` is the last one's.
    slot_ids: tuple[int, ...] = ()


class Source(StrEnum):
    CACHE = "cache"
    DATABASE = "database"


@dataclass(frozen=True)
class AvailabilityResult:
    options: list[SlotOption]
    source: Source
    # Age of the oldest feed read among the centres consulted (None: none consulted).
    age_seconds: float | None
    oldest_read_at: datetime | None
    degraded: bool = False
    degraded_reason: str = ""
    centres_consulted: int = 0
    procedures_without_options: tuple[str, ...] = field(default=())
    # Why each of those found no slot, and what to do (scheduling.no_slot).
    no_slot: dict[str, NoSlotReason] = field(default_factory=dict)


def _by_machine(
    slots: Sequence[SlotTuple], machines: Iterable[int]
) -> tuple[dict[int, list[tuple[float, float, int]]], dict[int, int]]:
    """Each machine's slots in start order, and where each slot sits in its machine's list."""
    wanted = set(machines)
    lists: dict[int, list[tuple[float, float, int]]] = {m: [] for m in wanted}
    position: dict[int, int] = {}
    for start, end, slot_id, machine_id in slots:
        if machine_id in wanted:
            position[slot_id] = len(lists[machine_id])
            lists[machine_id].append((start, end, slot_id))
    return lists, position


def _options_from_entry(
    entry: Entry,
    need: ProcedureNeed,
    constraints: PatientConstraints,
    distance_km: float,
    window: tuple[float, float],
    per_centre: int,
    today: datetime,
) -> list[SlotOption]:
    centre = entry.centre
    if centre_misfits(centre, constraints):
        return []
    fitting = {}
    for machine in entry.machines.values():
        ok, unmet = machine_fits(machine, need, constraints)
        if ok:
            fitting[machine.id] = (machine, unmet)
    if not fitting:
        return []
    duration = need.duration_minutes * 60
    read_at = availability_cache.read_at_datetime(entry.read_at)
    tz = timezone.get_current_timezone()
    options = []
    # Built only when a slot is shorter than the exam (most searches never need it).
    runs: tuple[dict[int, list[tuple[float, float, int]]], dict[int, int]] | None = None
    for start, end, slot_id, machine_id in entry.slots:
        if start < window[0] or start >= window[1]:
            continue
        found = fitting.get(machine_id)
        if found is None:
            continue
        if end - start >= duration:
            run: tuple[int, ...] = (slot_id,)
        else:
            if runs is None:
                runs = _by_machine(entry.slots, fitting)
            lists, position = runs
            found_run = slot_run(lists[machine_id], position[slot_id], duration)
            if found_run is None:
                continue
            run, end = found_run
        machine, unmet = found
        start_dt = datetime.fromtimestamp(start, tz=tz)
        options.append(
            SlotOption(
                procedure_code=need.code,
                modality=need.modality,
                slot_id=slot_id,
                start=start_dt,
                end=datetime.fromtimestamp(end, tz=tz),
                wait_days=(start_dt.date() - today.date()).days,
                centre_id=centre.id,
                centre_name=centre.name,
                town=centre.town,
                kind=centre.kind,
                sector=centre.sector,
                distance_km=round(distance_km, 1),
                wheelchair_accessible=centre.wheelchair_accessible,
                equipment_id=machine.id,
                equipment_name=machine.name,
                open_bore=machine.open_bore,
                read_at=read_at,
                unmet_preferences=unmet,
                slot_ids=run,
            )
        )
        if len(options) >= per_centre:
            break
    return options


def _candidates_from_cache(
    modalities: set[str], location: PatientLocation, radius_km: float
) -> dict[tuple[int, str], tuple[Entry, float]]:
    near = availability_cache.centres_near(
        modalities, location.latitude, location.longitude, radius_km
    )
    distances: dict[tuple[int, str], float] = {}
    for modality, members in near.items():
        for centre_id, lat, lon in members:
            km = haversine_km(location.latitude, location.longitude, lat, lon)
            if km <= radius_km:
                distances[(centre_id, modality)] = km
    entries = availability_cache.entries_read(distances)
    return {key: (entry, distances[key]) for key, entry in entries.items()}


def _centres_in_box(
    modalities: set[str], location: PatientLocation, radius_km: float
) -> Iterable[tuple[int, float, float]]:
    """(id, latitude, longitude) of the centres having these modalities in the box
    around the patient (a superset of the radius), from the database."""
    dlat = radius_km / availability_cache.KM_PER_DEGREE_LAT
    dlon = dlat / max(math.cos(math.radians(location.latitude)), 0.01)
    return Centre.objects.filter(
        latitude__range=(location.latitude - dlat, location.latitude + dlat),
        longitude__range=(location.longitude - dlon, location.longitude + dlon),
        equipment__modality__in=modalities,
    ).values_list("id", "latitude", "longitude")


def _candidates_from_database(
    modalities: set[str], location: PatientLocation, radius_km: float
) -> dict[tuple[int, str], tuple[Entry, float]]:
    distances = {}
    for centre_id, lat, lon in set(_centres_in_box(modalities, location, radius_km)):
        km = haversine_km(location.latitude, location.longitude, lat, lon)
        if km <= radius_km:
            distances[centre_id] = km
    entries = availability_cache.entries_build(distances, modalities=modalities)
    return {key: (entry, distances[key[0]]) for key, entry in entries.items()}


def available_options(
    procedures: Sequence[ProcedureNeed],
    location: PatientLocation,
    constraints: PatientConstraints | None = None,
    *,
    horizon_days: int | None = None,
    per_centre: int = 3,
    now: datetime | None = None,
    explain: bool = True,
) -> AvailabilityResult:
    """The first ``per_centre`` free slots per (centre, procedure) that fit the patient,
    soonest first, within ``constraints.max_distance_km`` and ``horizon_days``. An
    option is a start slot and the run of slots the exam takes (scheduling.fit.slot_run).
    With ``explain``, each procedure without an option gets its reason in ``no_slot``."""
    constraints = constraints or PatientConstraints()
    now = now or timezone.now()
    horizon = horizon_days or settings.AVAILABILITY_HORIZON_DAYS
    not_before = max(now, constraints.not_before or now)
    base_window = (not_before.timestamp(), (now + timedelta(days=horizon)).timestamp())
    modalities = {p.modality for p in procedures}
    radius = constraints.max_distance_km
    source, reason = Source.CACHE, ""
    try:
        candidates = _candidates_from_cache(modalities, location, radius)
    except Exception as exc:  # redis-py, socket and pickle errors all mean "cache unusable"
        logger.warning("availability cache unavailable, reading the database: %r", exc)
        source = Source.DATABASE
        reason = f"cache unavailable ({exc.__class__.__name__}): read from the database"
        candidates = _candidates_from_database(modalities, location, radius)
    today = timezone.localtime(now)
    options: list[SlotOption] = []
    empty = []
    reasons: dict[str, NoSlotReason] = {}
    for need in procedures:
        window = _need_window(need, base_window)
        found = []
        for (_centre_id, modality), (entry, km) in candidates.items():
            if modality == need.modality:
                found.extend(
                    _options_from_entry(entry, need, constraints, km, window, per_centre, today)
                )
        if not found:
            empty.append(need.code)
            if explain:
                reasons[need.code] = no_slot_reason(
                    need=need,
                    candidates=[(m, e, km) for (_c, m), (e, km) in candidates.items()],
                    constraints=constraints,
                    window=window,
                    horizon_days=horizon,
                    nearest_beyond=partial(
                        _nearest_beyond, need, location, constraints, window, today, source
                    ),
                )
        options.extend(found)
    options.sort(key=lambda o: (o.start, o.distance_km, o.centre_id, o.slot_id))
    oldest = min((e.read_at for e, _ in candidates.values()), default=None)
    oldest_dt = availability_cache.read_at_datetime(oldest) if oldest is not None else None
    return AvailabilityResult(
        options=options,
        source=source,
        age_seconds=None if oldest_dt is None else max(0.0, (now - oldest_dt).total_seconds()),
        oldest_read_at=oldest_dt,
        degraded=source is Source.DATABASE,
        degraded_reason=reason,
        centres_consulted=len({c for c, _ in candidates}),
        procedures_without_options=tuple(empty),
        no_slot=reasons,
    )


def _need_window(need: ProcedureNeed, window: tuple[float, float]) -> tuple[float, float]:
    """The search's window, starting no sooner than the exam's own earliest start."""
    if need.not_before is None:
        return window
    return (max(window[0], need.not_before.timestamp()), window[1])


# Centres read per round trip when looking farther; each round reads twice as many.
BEYOND_FIRST_BATCH = 16


def _nearest_beyond(
    need: ProcedureNeed,
    location: PatientLocation,
    constraints: PatientConstraints,
    window: tuple[float, float],
    today: datetime,
    source: Source,
) -> float | None:
    """The distance of the nearest free slot (or run) for this exam beyond the search's
    radius, up to what the prescriber's filter accepts; None when there is none.

    The same test as the search (_options_from_entry) on the centres beyond the radius,
    nearest first, in batches that double: the nearest centre with a slot is usually in
    the first batch, and no search ever reads the whole 500 km at once."""
    radius = constraints.max_distance_km
    lat, lon = location.latitude, location.longitude
    try:
        if source is Source.CACHE:
            members = availability_cache.centres_near({need.modality}, lat, lon, MAX_RADIUS_KM)
            positions = members[need.modality]
        else:
            positions = list(_centres_in_box({need.modality}, location, MAX_RADIUS_KM))
        ring = sorted(
            (km, centre_id)
            for centre_id, c_lat, c_lon in set(positions)
            if radius < (km := haversine_km(lat, lon, c_lat, c_lon)) <= MAX_RADIUS_KM
        )
        batch, first = BEYOND_FIRST_BATCH, 0
        while first < len(ring):
            chunk = ring[first : first + batch]
            ids = [centre_id for _km, centre_id in chunk]
            if source is Source.CACHE:
                entries = availability_cache.entries_read([(c, need.modality) for c in ids])
            else:
                entries = availability_cache.entries_build(ids, modalities={need.modality})
            hits = [
                km
                for km, centre_id in chunk
                if (entry := entries.get((centre_id, need.modality))) is not None
                and _options_from_entry(entry, need, constraints, km, window, 1, today)
            ]
            if hits:
                return min(hits)
            first += batch
            batch *= 2
    except Exception as exc:  # the explanation must never break the answer it explains
        logger.warning("looking for a slot farther failed: %r", exc)
    return None


# --- When availability was last refreshed (shown by /healthz) --------------------


def availability_refreshed_at() -> datetime | None:
    """The latest successful feed refresh, from the database: shared by every process."""
    latest: datetime | None = FeedState.objects.aggregate(latest=Max("last_success_at"))["latest"]
    return latest


def availability_age_seconds() -> float | None:
    refreshed = availability_refreshed_at()
    if refreshed is None:
        return None
    return (timezone.now() - refreshed).total_seconds()
