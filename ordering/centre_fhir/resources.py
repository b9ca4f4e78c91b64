"""The booking as the centre's FHIR server takes it: a ServiceRequest (the order) and
an Appointment (status booked, on the centre's own Slots), both R4, both carrying the
order's placer number as a stable identifier, so that a resend finds what the first
attempt created (conditional create) and a cancellation finds what to cancel.

The payload queued in the outbox is an envelope: the two resources as they are sent,
plus our own ids of the booking (never sent), so the delivery can release it when
the centre says the slot is gone."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.servicerequest import ServiceRequest
from pydantic import ValidationError as PydanticValidationError

from ordering.cds.cards import code_system_url
from ordering.models import Order, PrescriberProfile
from ordering.ris.messages import INS_NIR_OID, RPPS_OID, MessageInvalid, placer_number
from scheduling.models import Booking

IDENTIFIER_TYPES = "http://terminology.hl7.org/CodeSystem/v2-0203"
_GENDER = {"F": "female", "M": "male"}
_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")


def placer_system() -> str:
    """The system of our placer numbers: the same on both resources and every attempt."""
    return f"{settings.FHIR_EXTENSION_BASE}/NamingSystem/placer-order-number"


def placer_search(order: Order) -> str:
    """The token search that finds this order's resources: ``system|value``."""
    return f"{placer_system()}|{placer_number(order)}"


def _patient_identifier(order: Order) -> dict[str, Any]:
    if order.patient_identifier_kind == "ins":
        return {
            "type": {"coding": [{"system": IDENTIFIER_TYPES, "code": "INS-NIR"}]},
            "system": f"urn:oid:{INS_NIR_OID}",
            "value": order.patient_identifier,
        }
    issuer = settings.PATIENT_ISSUER_LOCAL
    system = (
        f"urn:oid:{issuer}"
        if _OID.match(issuer)
        else f"{settings.FHIR_EXTENSION_BASE}/NamingSystem/{issuer or 'local'}"
    )
    return {
        "type": {"coding": [{"system": IDENTIFIER_TYPES, "code": "PI"}]},
        "system": system,
        "value": order.patient_identifier,
    }


def _patient(order: Order) -> dict[str, Any]:
    # Contained: the centre's server may not know the patient, and the order must still
    # name them as the RIS message does (INS traits: birth name, first given names).
    return {
        "resourceType": "Patient",
        "id": "patient",
        "identifier": [_patient_identifier(order)],
        "name": [
            {
                "use": "official",
                "family": order.patient_birth_name,
                "given": order.patient_given_names.split(),
            }
        ],
        "birthDate": order.patient_birth_date.isoformat(),
        "gender": _GENDER.get(order.patient_sex, "unknown"),
    }


def _placer_identifier(order: Order) -> dict[str, Any]:
    return {
        "type": {"coding": [{"system": IDENTIFIER_TYPES, "code": "PLAC"}]},
        "system": placer_system(),
        "value": placer_number(order),
    }


def service_request_resource(order: Order, booking: Booking) -> dict[str, Any]:
    run = booking.run_slots
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "contained": [_patient(order)],
        "identifier": [_placer_identifier(order)],
        "status": "active",
        "intent": "order",
        "code": {
            "coding": [
                {
                    "system": code_system_url("procedure"),
                    "code": order.procedure.code,
                    "display": order.procedure.label_en,
                }
            ],
            "text": order.procedure.label_fr,
        },
        "subject": {"reference": "#patient"},
        "occurrencePeriod": {"start": run[0].start.isoformat(), "end": run[-1].end.isoformat()},
        "authoredOn": order.signed_at.isoformat(),
    }
    profile = PrescriberProfile.objects.filter(user_id=order.prescriber_id).first()
    if profile is not None:
        resource["requester"] = {
            "type": "Practitioner",
            "identifier": {"system": f"urn:oid:{RPPS_OID}", "value": profile.rpps},
        }
    return resource


def appointment_resource(order: Order, booking: Booking) -> dict[str, Any]:
    """Status booked, on the centre's Slot(s) (a long exam takes a run of them);
    ``basedOn`` is added at delivery, once the server has said the ServiceRequest's id."""
    run = booking.run_slots
    return {
        "resourceType": "Appointment",
        "identifier": [_placer_identifier(order)],
        "status": "booked",
        "description": order.procedure.label_fr,
        "start": run[0].start.isoformat(),
        "end": run[-1].end.isoformat(),
        "slot": [{"reference": f"Slot/{slot.external_id}"} for slot in run],
        "created": timezone.now().isoformat(timespec="seconds"),
        "participant": [
            {
                # By identifier: the centre's server need not hold a Patient for it.
                "actor": {"type": "Patient", "identifier": _patient_identifier(order)},
                "status": "accepted",
            }
        ],
    }


@dataclass(frozen=True)
class BookEnvelope:
    booking_id: int
    equipment_id: int
    slot_ids: list[int]
    service_request: dict[str, Any]
    appointment: dict[str, Any]
    # Set when the centre answered that the slot is gone and the booking was released.
    conflict: bool = False

    def dumps(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def loads(cls, payload: str) -> BookEnvelope:
        return cls(**json.loads(payload))


def _validate(model: Any, resource: dict[str, Any]) -> None:
    try:
        model.model_validate(resource)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise MessageInvalid(
            f"invalid {resource['resourceType']} ({exc.error_count()} errors): "
            f"{where}: {first['msg']}"
        ) from None


def book_envelope(order: Order, booking: Booking) -> BookEnvelope:
    """What the booking sends, validated with the R4 models (fhir.resources.R4B).
    Raises MessageInvalid."""
    run = booking.run_slots
    if any(not slot.external_id for slot in run):
        raise MessageInvalid("a booked slot has no FHIR Slot id")
    envelope = BookEnvelope(
        booking_id=booking.pk,
        equipment_id=booking.slot.equipment_id,
        slot_ids=[slot.pk for slot in run],
        service_request=service_request_resource(order, booking),
        appointment=appointment_resource(order, booking),
    )
    _validate(ServiceRequest, envelope.service_request)
    _validate(Appointment, {**envelope.appointment, "basedOn": [{"reference": "ServiceRequest/x"}]})
    return envelope
