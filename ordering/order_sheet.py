"""The printed order, as an imaging centre reads it: who prescribes (name, RPPS,
address, phone), for whom (identity traits), what exam and why (clinical question,
red flags, the facts the radiologist needs), how urgently, and a place to sign. The
HTML print view, the PDF and the e-mail all render this one reader, so none of them
can print what another leaves out. It holds display text only: no technical id, no
screen message."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.utils import formats, timezone
from django.utils.translation import gettext as _

from guidelines.models import Category, Evidence, Priority
from imaging_cds.vocab import Modality
from ordering.contract import FIELD_LABELS
from ordering.models import Order, OrderStatus, PrescriberProfile
from ordering.record import ConsultationRecord, localised, rating_offerable

SEX_LABELS = {"F": "Female", "M": "Male", "U": "Unknown"}


@dataclass(frozen=True)
class SheetLine:
    label: str
    value: str


@dataclass(frozen=True)
class OrderSheet:
    signed_on: str
    reference: str
    prescriber_name: str
    # Speciality, "RPPS: …", address, phone: each line present only when known.
    prescriber_lines: list[str]
    # What the centre needs of the prescriber and this profile lacks (labels).
    prescriber_missing: list[str]
    patient: list[SheetLine]
    exam: str
    modality: str
    clinical_question: str
    red_flags: list[str]
    red_flags_absent: list[str]
    facts: list[SheetLine]
    # "Indicated (…, 2022)": only when the rating holds (offered, not redundant, no
    # contraindication); None otherwise, and nothing is printed in its place.
    statement: str | None
    notes: list[str]
    priority: str
    appointment: list[str] = field(default_factory=list)
    cancelled: bool = False


def order_reference(order: Order) -> str:
    """A short reference the patient quotes to a centre ("3F9A-2C71"): the first 32
    bits of the order's id, which the centre reads beside the patient's name."""
    head = order.pk.hex[:8].upper()
    return f"{head[:4]}-{head[4:]}"


def date_text(value: date) -> str:
    """ "12 avril 1958": the month in words, never 04/12 or 12/04 to misread."""
    return formats.date_format(value, "j F Y")


def datetime_text(value: datetime) -> str:
    local = timezone.localtime(value)
    return _("%(day)s at %(time)s") % {
        "day": formats.date_format(local, "l j F Y"),
        "time": formats.time_format(local, "H:i"),
    }


def _number(value: float) -> str:
    return formats.number_format(value, decimal_pos=None if value != int(value) else 0)


def _prescriber(order: Order) -> tuple[str, list[str], list[str]]:
    user = order.prescriber
    name = user.get_full_name() or user.get_username()
    profile = PrescriberProfile.objects.filter(user_id=user.pk).first()
    lines: list[str] = []
    missing: list[str] = []
    if not user.get_full_name():
        missing.append(_("Name"))
    if profile is None:
        missing += [_("RPPS number"), _("Professional address"), _("Phone")]
        return name, lines, missing
    if profile.speciality:
        lines.append(profile.speciality)
    lines.append(_("RPPS: %(number)s") % {"number": profile.rpps})
    lines.append(f"{profile.address}, {profile.postcode} {profile.town}")
    lines.append(_("Phone: %(phone)s") % {"phone": profile.phone})
    return name, lines, missing


def _patient(order: Order) -> list[SheetLine]:
    kind = "INS" if order.patient_identifier_kind == "ins" else _("local identifier")
    return [
        SheetLine(_("Birth name"), order.patient_birth_name),
        SheetLine(_("First given name(s)"), order.patient_given_names),
        SheetLine(_("Birth date"), date_text(order.patient_birth_date)),
        SheetLine(_("Sex"), _(SEX_LABELS.get(order.patient_sex, "Unknown"))),
        SheetLine(str(FIELD_LABELS["identifier"]), f"{order.patient_identifier} ({kind})"),
    ]


def _facts(patient: dict[str, Any]) -> list[SheetLine]:
    facts: list[SheetLine] = []
    egfr = patient.get("egfr")
    if egfr is not None:
        value = f"{_number(float(egfr))} mL/min/1,73 m²"
        if patient.get("egfr_date"):
            value = _("%(value)s, measured on %(date)s") % {
                "value": value,
                "date": date_text(date.fromisoformat(patient["egfr_date"])),
            }
        else:
            value = _("%(value)s (date not given)") % {"value": value}
        facts.append(SheetLine(_("eGFR"), value))
    if patient.get("weight_kg") is not None:
        facts.append(SheetLine(_("Weight"), f"{_number(float(patient['weight_kg']))} kg"))
    if patient.get("sex") == "F" or patient.get("pregnancy") == "yes":
        answer = {"yes": _("Yes"), "no": _("No")}.get(patient.get("pregnancy", ""), _("Unknown"))
        facts.append(SheetLine(_("Pregnancy"), answer))
    for key, label in (
        ("contrast_allergy", _("Contrast agent allergy")),
        ("mri_unsafe_implant", _("MRI-unsafe implant")),
        ("claustrophobia", _("Claustrophobia")),
        ("reduced_mobility", _("Reduced mobility (wheelchair)")),
    ):
        if patient.get(key):
            facts.append(SheetLine(label, _("Yes")))
    return facts


def _statement(rating: dict[str, Any] | None) -> str | None:
    """The rating as a sentence, only where it holds: never on an exam the PACS showed
    was done recently, nor on one with a contraindication."""
    if (
        rating is None
        or rating.get("redundancy") is not None
        or rating.get("contraindications")
        or not rating_offerable(rating)
    ):
        return None
    source = rating.get("source") or {}
    where = source.get("document", "")
    if source.get("year"):
        where = f"{where}, {source['year']}"
    return _("%(category)s according to %(source)s (evidence: %(evidence)s).") % {
        "category": Category(rating["category"]).label,
        "source": where,
        "evidence": dict(Evidence.choices).get(str(rating.get("evidence")), rating.get("evidence")),
    }


def _notes(rating: dict[str, Any] | None) -> list[str]:
    if rating is None:
        return []
    notes = [localised(f, "reason") for f in rating.get("warnings", [])]
    redundancy = rating.get("redundancy")
    if redundancy:
        prior = _("Similar exam on %(date)s") % {
            "date": date_text(date.fromisoformat(redundancy["performed_on"]))
        }
        if redundancy.get("institution"):
            prior += f" ({redundancy['institution']})"
        notes.append(prior)
    return notes


def _appointment(order: Order) -> list[str]:
    booking = order.booking
    if booking is None:
        return []
    slot = booking.slot
    centre = slot.equipment.centre
    lines = [
        datetime_text(slot.start),
        centre.name,
        f"{centre.address}, {centre.postcode} {centre.town}",
    ]
    if centre.phone:
        lines.append(_("Phone: %(phone)s") % {"phone": centre.phone})
    return lines


def order_sheet(order: Order) -> OrderSheet:
    record = ConsultationRecord(order.consultation)
    rating = record.rating(order.procedure.code)
    flags = record.red_flag_labels()
    inputs = order.consultation.inputs
    name, prescriber_lines, missing = _prescriber(order)
    return OrderSheet(
        signed_on=date_text(timezone.localdate(order.signed_at)),
        reference=order_reference(order),
        prescriber_name=name,
        prescriber_lines=prescriber_lines,
        prescriber_missing=missing,
        patient=_patient(order),
        exam=localised(order.procedure, "label"),
        modality=str(dict(Modality.choices).get(order.procedure.modality, "")),
        clinical_question=_indication_label(record.indication_code),
        red_flags=[flags.get(code, code) for code in inputs.get("red_flags", [])],
        red_flags_absent=[flags.get(code, code) for code in inputs.get("red_flags_absent", [])],
        facts=_facts(record.patient),
        statement=_statement(rating),
        notes=_notes(rating),
        priority=str(dict(Priority.choices).get(rating["priority"], "")) if rating else "",
        appointment=_appointment(order),
        cancelled=order.status == OrderStatus.CANCELLED,
    )


def _indication_label(code: str) -> str:
    from guidelines.models import Indication

    indication = Indication.objects.filter(code=code).first()
    return localised(indication, "label") if indication is not None else ""
