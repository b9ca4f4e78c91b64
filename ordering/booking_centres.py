"""Where the patient of an order signed without a booking can have the exam: the
centres that can perform it for this patient, nearest first, with their next free
slots and phone numbers. The signed order's page, its PDF and the patient's booking
page all read this one selector; it asks scheduling the same question as the options
page (scheduling.availability.available_options with the patient's constraints)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from ordering.decision import exam_not_before, procedure_need
from ordering.models import Order
from ordering.record import ConsultationRecord
from scheduling.availability import PatientLocation, available_options
from scheduling.geo import commune_lookup
from scheduling.models import Centre

DEFAULT_RADIUS_KM = 60.0
# No postcode: no distance to limit by (as on the options page).
UNLIMITED_KM = 100_000.0
SLOTS_PER_CENTRE = 3


@dataclass(frozen=True)
class BookingCentre:
    name: str
    address: str
    postcode: str
    town: str
    phone: str
    # Distance from the patient's commune; None when the order has no postcode.
    distance_km: float | None
    next_slots: tuple[datetime, ...]
    # The slot each of ``next_slots`` starts (the first of its run): what the booking
    # page books.
    slot_ids: tuple[int, ...] = ()

    @property
    def slots(self) -> list[tuple[datetime, int]]:
        return list(zip(self.next_slots, self.slot_ids, strict=True))


def booking_centres(
    order: Order, *, limit: int = 5, now: datetime | None = None
) -> list[BookingCentre]:
    """Up to ``limit`` centres, nearest first (soonest first without a postcode)."""
    record = ConsultationRecord(order.consultation)
    commune = commune_lookup(postcode=record.patient.get("postcode") or "")
    filters = order.consultation.inputs.get("filters") or {}
    radius = float(filters.get("max_distance_km") or DEFAULT_RADIUS_KM)
    location = PatientLocation(
        latitude=commune.latitude if commune else 0.0,
        longitude=commune.longitude if commune else 0.0,
    )
    now = now or timezone.now()
    rating = record.rating(order.procedure.code) or {}
    priority = str(rating.get("priority") or "") or None
    result = available_options(
        [procedure_need(order.procedure, not_before=exam_not_before(priority, now))],
        location,
        record.constraints(max_distance_km=radius if commune else UNLIMITED_KM),
        per_centre=SLOTS_PER_CENTRE,
        now=now,
    )
    by_centre: dict[int, list[datetime]] = {}
    slot_of: dict[tuple[int, datetime], int] = {}
    distance: dict[int, float] = {}
    for option in result.options:  # soonest first
        by_centre.setdefault(option.centre_id, []).append(option.start)
        slot_of.setdefault((option.centre_id, option.start), option.slot_id)
        distance[option.centre_id] = option.distance_km
    if commune:
        ordered = sorted(by_centre, key=lambda c: (distance[c], by_centre[c][0], c))
    else:
        ordered = sorted(by_centre, key=lambda c: (by_centre[c][0], c))
    ordered = ordered[:limit]
    centres = Centre.objects.in_bulk(ordered)
    soonest = {c: tuple(sorted(by_centre[c])[:SLOTS_PER_CENTRE]) for c in ordered}
    return [
        BookingCentre(
            name=centres[c].name,
            address=centres[c].address,
            postcode=centres[c].postcode,
            town=centres[c].town,
            phone=centres[c].phone,
            distance_km=distance[c] if commune else None,
            next_slots=soonest[c],
            slot_ids=tuple(slot_of[(c, start)] for start in soonest[c]),
        )
        for c in ordered
        if c in centres
    ]
