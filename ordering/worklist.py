"""The DICOM Modality Worklist of a centre: each signed, booked order as a Scheduled
Procedure Step, as a modality asks for it (date, modality, station AE title).

The DICOM side (association, C-FIND) is ordering.pacs.worklist_scp; this module only
answers "which exams match this query at this centre", from the database. A
cancelled order (or booking) is not in the answer.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.utils import timezone
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from ordering.contract import patient_issuer
from ordering.models import Order, OrderStatus
from ordering.pacs.query import parse_da
from ordering.ris.messages import accession_number, study_instance_uid
from scheduling.models import BookingStatus, Centre

SPS = "ScheduledProcedureStepSequence"
# An open-ended date range ("20261201-") is read as this many days: a modality asks
# for a day or a few, never for the whole future.
OPEN_RANGE_DAYS = 31


def _day_range(wanted: str, today: date) -> tuple[date, date] | None:
    """The days a DA query value covers; empty: today (the day's worklist, which is
    what a modality asks for). None: a value we cannot read."""
    wanted = wanted.strip()
    if not wanted:
        return today, today
    if "-" not in wanted:
        day = parse_da(wanted)
        return (day, day) if day is not None else None
    start, _sep, end = wanted.partition("-")
    low = parse_da(start) if start else today
    high = parse_da(end) if end else (low + timedelta(days=OPEN_RANGE_DAYS) if low else None)
    if low is None or high is None:
        return None
    return low, high


def _person_name(order: Order) -> str:
    first, _sep, others = order.patient_given_names.partition(" ")
    return "^".join([order.patient_birth_name, first, others]).rstrip("^")


def _step(order: Order) -> Dataset:
    assert order.booking is not None
    slot = order.booking.slot
    start = timezone.localtime(slot.start)
    step = Dataset()
    step.Modality = order.procedure.modality
    step.ScheduledStationAETitle = slot.equipment.station_ae_title
    step.ScheduledProcedureStepStartDate = start.strftime("%Y%m%d")
    step.ScheduledProcedureStepStartTime = start.strftime("%H%M%S")
    step.ScheduledProcedureStepDescription = order.procedure.label_fr[:64]
    step.ScheduledProcedureStepID = accession_number(order)
    step.ScheduledPerformingPhysicianName = ""
    return step


def worklist_item(order: Order) -> Dataset:
    """Everything the worklist says of one booked order."""
    item = Dataset()
    item.SpecificCharacterSet = "ISO_IR 192"
    item.PatientName = _person_name(order)
    item.PatientID = order.patient_identifier
    item.IssuerOfPatientID = patient_issuer(order.patient_identifier_kind) or ""
    item.PatientBirthDate = order.patient_birth_date.strftime("%Y%m%d")
    item.PatientSex = order.patient_sex if order.patient_sex in {"F", "M"} else "O"
    item.AccessionNumber = accession_number(order)
    item.RequestedProcedureID = accession_number(order)
    item.RequestedProcedureDescription = order.procedure.label_fr[:64]
    item.StudyInstanceUID = study_instance_uid(order)
    item.ReferringPhysicianName = order.prescriber.last_name or ""
    item.ScheduledProcedureStepSequence = Sequence([_step(order)])
    return item


def _only_asked(query: Dataset, item: Dataset) -> Dataset:
    """The keys the query asked for, as C-FIND returns them (an unknown one empty);
    inside the step sequence, the keys asked of the step."""
    answer = Dataset()
    for element in query:
        if element.keyword == "SpecificCharacterSet":
            continue
        if element.keyword == SPS:
            asked = query[SPS].value[0] if len(query[SPS].value) else Dataset()
            answer.ScheduledProcedureStepSequence = Sequence(
                [_only_asked(asked, item[SPS].value[0])]
            )
        elif element.keyword in item:
            answer[element.tag] = item[element.tag]
        else:
            answer[element.tag] = element
    return answer


def _answer(query: Dataset, item: Dataset) -> Dataset:
    answer = _only_asked(query, item)
    # UTF-8: the patient's names are French, with accents.
    answer.SpecificCharacterSet = item.SpecificCharacterSet
    return answer


def worklist_centre(ae_title: str) -> Centre | None:
    """The centre whose worklist this AE title is, if any."""
    title = ae_title.strip()
    if not title:
        return None
    return Centre.objects.filter(worklist_ae_title=title).first()


def worklist_find(*, centre: Centre, query: Dataset) -> list[Dataset] | None:
    """The Scheduled Procedure Steps at ``centre`` matching ``query``, each with the
    keys the query asked for; None if the query cannot be read (a bad date)."""
    step_query = Dataset()
    if SPS in query and len(query[SPS].value):
        step_query = query[SPS].value[0]
    days = _day_range(
        str(step_query.get("ScheduledProcedureStepStartDate", "") or ""), timezone.localdate()
    )
    if days is None:
        return None
    zone = timezone.get_current_timezone()
    orders = Order.objects.filter(
        status=OrderStatus.SIGNED,
        booking__status=BookingStatus.BOOKED,
        booking__slot__equipment__centre=centre,
        booking__slot__start__gte=datetime.combine(days[0], time.min, tzinfo=zone),
        booking__slot__start__lt=datetime.combine(
            days[1] + timedelta(days=1), time.min, tzinfo=zone
        ),
    ).select_related("procedure", "prescriber", "booking__slot__equipment")
    modality = str(step_query.get("Modality", "") or "").strip()
    if modality:
        orders = orders.filter(procedure__modality=modality)
    station = str(step_query.get("ScheduledStationAETitle", "") or "").strip()
    if station:
        orders = orders.filter(booking__slot__equipment__station_ae_title=station)
    patient_id = str(query.get("PatientID", "") or "").strip()
    if patient_id:
        orders = orders.filter(patient_identifier=patient_id)
    accession = str(query.get("AccessionNumber", "") or "").strip()
    items = [worklist_item(order) for order in orders.order_by("booking__slot__start")]
    if accession:
        items = [item for item in items if item.AccessionNumber == accession]
    return [_answer(query, item) for item in items]
