"""What a centre manager changes: the centre, its opening hours, its machines.

Every change makes the centre's feed due at once and, after commit, rebuilds the
geographic index and asks a worker to refresh the centre.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from scheduling.models import Centre, Equipment
from scheduling.services.feeds import feed_schedule_now, index_rebuild_quietly

logger = logging.getLogger(__name__)


def _after_change(centre_id: int) -> None:
    feed_schedule_now(centre_id=centre_id)

    def refresh() -> None:
        from scheduling.tasks import availability_refresh_centre

        index_rebuild_quietly()
        try:
            availability_refresh_centre.delay(centre_id)
        except Exception as exc:  # broker down: beat picks the due feed up later
            logger.warning("refresh of centre %s not queued: %r", centre_id, exc)

    transaction.on_commit(refresh)


def centre_update(*, centre: Centre, fields: dict[str, Any]) -> Centre:
    with transaction.atomic():
        for name, value in fields.items():
            setattr(centre, name, value)
        centre.full_clean()
        centre.save()
        _after_change(centre.pk)
    return centre


def centre_hours_set(*, centre: Centre, hours: dict[str, list[list[str]]]) -> Centre:
    with transaction.atomic():
        centre.opening_hours = hours
        centre.full_clean()
        centre.save(update_fields=["opening_hours"])
        _after_change(centre.pk)
    return centre


def equipment_save(*, equipment: Equipment, procedure_codes: list[str]) -> Equipment:
    with transaction.atomic():
        equipment.procedure_codes = procedure_codes
        equipment.full_clean()
        equipment.save()
        _after_change(equipment.centre_id)
    return equipment
