"""What the order page says when the centre refused the booking (slot gone): the
booking was released, and here are the next free slots of the same machine, found
by the rule scheduling's SlotTakenError uses for its alternatives."""

from __future__ import annotations

from dataclasses import dataclass

from ordering.centre_fhir.resources import BookEnvelope
from ordering.decision import procedure_need
from ordering.models import Order, OrderStatus, OutboundKind, OutboundMessage, OutboundState
from scheduling.services.booking import SlotSummary, next_free_slots


@dataclass(frozen=True)
class SlotGone:
    alternatives: list[SlotSummary]


def slot_gone(order: Order) -> SlotGone | None:
    """Set while the order, released after the centre's refusal, is not booked again."""
    if order.booking_id is not None or order.status != OrderStatus.SIGNED:
        return None
    message = OutboundMessage.objects.filter(
        order=order, kind=OutboundKind.FHIR_BOOK, state=OutboundState.REJECTED
    ).first()
    if message is None:
        return None
    envelope = BookEnvelope.loads(message.payload)
    if not envelope.conflict:
        return None
    return SlotGone(
        alternatives=next_free_slots(
            equipment_id=envelope.equipment_id, procedure=procedure_need(order.procedure), limit=3
        )
    )
