"""The HL7 v2 order message a centre's RIS receives: ORM^O01 (v2.5) or OMI^O23
(v2.5.1, the message IHE Scheduled Workflow uses), new order (ORC-1 NW) or
cancellation (CA). Built with hl7apy and validated before it is queued: a message
that does not pass is never sent."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.conf import settings
from django.utils import timezone
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Group, Message
from hl7apy.exceptions import HL7apyException

from ordering.models import Order, OutboundKind, PrescriberProfile

SENDING_APPLICATION = "IMAGINGCDS"
# The INS's assigning authority (INS-NIR), as the French interoperability framework
# (CI-SIS) names it in PID-3.
INS_NIR_OID = "1.2.250.1.213.1.4.8"
RPPS_OID = "1.2.250.1.71.4.2.1"
_VERSIONS = {"ORM_O01": "2.5", "OMI_O23": "2.5.1"}
_ORDER_CONTROL = {OutboundKind.NEW: "NW", OutboundKind.CANCEL: "CA"}
_SEX = {"F": "F", "M": "M"}


class MessageInvalid(ValueError):
    """The message did not pass HL7 validation; the text names the element only."""


def placer_number(order: Order) -> str:
    # The whole id, not the 8-character reference printed for the patient: the placer
    # number is the outbox's idempotency key and must never collide.
    return order.pk.hex.upper()


def accession_number(order: Order) -> str:
    # DICOM's AccessionNumber is at most 16 characters (SH).
    return order.pk.hex[:16].upper()


def study_instance_uid(order: Order) -> str:
    # A UUID-derived UID (DICOM PS3.5 B.2): unique without a registered root.
    return f"2.25.{order.pk.int}"


def _text(value: str) -> str:
    """A free value inside a field: HL7's escapes for its delimiters, no line breaks."""
    escaped = (
        value.replace("\\", "\\E\\")
        .replace("|", "\\F\\")
        .replace("^", "\\S\\")
        .replace("&", "\\T\\")
        .replace("~", "\\R\\")
    )
    return " ".join(escaped.split())


def _ts(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y%m%d%H%M%S%z")


def _patient_id(order: Order) -> str:
    if order.patient_identifier_kind == "ins":
        return f"{_text(order.patient_identifier)}^^^&{INS_NIR_OID}&ISO^INS"
    issuer = _text(settings.PATIENT_ISSUER_LOCAL)
    return f"{_text(order.patient_identifier)}^^^{issuer}^PI"


def _patient_name(order: Order) -> str:
    first, _sep, others = order.patient_given_names.partition(" ")
    # Name type L (legal): the INS birth name and first given name(s).
    return f"{_text(order.patient_birth_name)}^{_text(first)}^{_text(others)}^^^^L"


def _orderer(order: Order) -> str:
    user = order.prescriber
    profile = PrescriberProfile.objects.filter(user=user).first()
    rpps = profile.rpps if profile is not None else ""
    authority = f"&{RPPS_OID}&ISO" if rpps else ""
    return (
        f"{_text(rpps)}^{_text(user.last_name or user.get_username())}^{_text(user.first_name)}"
        f"^^^^^^{authority}"
    )


def _fill_patient(group: Group, order: Order) -> None:
    group.pid.pid_3 = _patient_id(order)
    group.pid.pid_5 = _patient_name(order)
    group.pid.pid_7 = order.patient_birth_date.strftime("%Y%m%d")
    group.pid.pid_8 = _SEX.get(order.patient_sex, "U")
    visit = group.add_group(f"{group.name.rsplit('_', 1)[0]}_PATIENT_VISIT")
    visit.pv1.pv1_2 = "O"  # outpatient: the patient comes for the exam


def _fill_common(segment_owner: Group, order: Order, control: str, now: datetime) -> None:
    placer = f"{placer_number(order)}^{SENDING_APPLICATION}"
    segment_owner.orc.orc_1 = control
    segment_owner.orc.orc_2 = placer
    segment_owner.orc.orc_9 = _ts(now)
    segment_owner.orc.orc_12 = _orderer(order)


def _fill_obr(group: Group, order: Order, start: datetime | None, with_timing: bool) -> None:
    procedure = order.procedure
    group.obr.obr_2 = f"{placer_number(order)}^{SENDING_APPLICATION}"
    group.obr.obr_4 = f"{_text(procedure.code)}^{_text(procedure.label_fr)}^L"
    group.obr.obr_16 = _orderer(order)
    group.obr.obr_31 = f"{_text(order.consultation.indication_code)}^^L"
    if with_timing and start is not None:
        # ORM^O01 v2.5 has no TQ1: the start goes in OBR-27 (TQ), kept for compatibility.
        group.obr.obr_27 = f"^^^{_ts(start)}"


def hl7_order_message(
    *,
    order: Order,
    kind: str,
    profile: str,
    receiving_application: str,
    receiving_facility: str,
    control_id: str,
    now: datetime | None = None,
) -> str:
    """The message as ER7 text (segments separated by CR), validated; raises
    MessageInvalid."""
    now = now or timezone.now()
    version = _VERSIONS[profile]
    event = profile.split("_")[1]
    start = order.booking.slot.start if order.booking is not None else None
    try:
        message = Message(profile, version=version, validation_level=VALIDATION_LEVEL.STRICT)
        message.msh.msh_3 = SENDING_APPLICATION
        message.msh.msh_4 = _text(settings.HL7_SENDING_FACILITY)
        message.msh.msh_5 = _text(receiving_application)
        message.msh.msh_6 = _text(receiving_facility)
        message.msh.msh_7 = _ts(now)
        message.msh.msh_9 = f"{profile[:3]}^{event}^{profile}"
        message.msh.msh_10 = control_id
        message.msh.msh_11 = "P"
        message.msh.msh_15 = "AL"
        message.msh.msh_16 = "NE"
        message.msh.msh_18 = "UNICODE UTF-8"
        _fill_patient(message.add_group(f"{profile}_PATIENT"), order)
        ordered = message.add_group(f"{profile}_ORDER")
        _fill_common(ordered, order, _ORDER_CONTROL[OutboundKind(kind)], now)
        if profile == "OMI_O23":
            if start is not None:
                timing = ordered.add_group("OMI_O23_TIMING")
                timing.tq1.tq1_7 = _ts(start)
            _fill_obr(ordered, order, start, with_timing=False)
            ordered.ipc.ipc_1 = f"{accession_number(order)}^{SENDING_APPLICATION}"
            ordered.ipc.ipc_2 = f"{accession_number(order)}^{SENDING_APPLICATION}"
            ordered.ipc.ipc_3 = study_instance_uid(order)
            ordered.ipc.ipc_4 = accession_number(order)
            ordered.ipc.ipc_5 = f"{order.procedure.modality}^^DCM"
            message.validate()
        else:
            detail = ordered.add_group("ORM_O01_ORDER_DETAIL")
            choice = detail.add_group("ORM_O01_OBRRQDRQ1RXOODSODT_SUPPGRP")
            _fill_obr(choice, order, start, with_timing=True)
            # hl7apy models the OBR|RQD|RQ1|RXO|ODS|ODT choice as a sequence (every
            # member required): validate the message's segments one by one instead.
            for segment in (message.msh, message.children[1].pid, ordered.orc, choice.obr):
                segment.validate()
    except HL7apyException as error:
        # The library's text names elements, but may quote a value: keep the type only.
        raise MessageInvalid(f"HL7 validation failed ({type(error).__name__})") from None
    return str(message.to_er7())


def control_id_new() -> str:
    # 20 characters (MSH-10 is ST 20 in v2.5): unique without a counter to share.
    return uuid.uuid4().hex[:20].upper()
