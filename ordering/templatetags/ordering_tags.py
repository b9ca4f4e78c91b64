"""Display helpers for the ordering pages: labels of stored codes, in the page's language."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import get_language

from guidelines.models import Category, DoseClass, Evidence, Intention, Priority
from ordering.record import CHILDBEARING_AGES
from scheduling.models import CentreKind, PriceSector

register = template.Library()

_LABELS: dict[str, dict[Any, Any]] = {
    "category": dict(Category.choices),
    "dose": dict(DoseClass.choices),
    "evidence": dict(Evidence.choices),
    "intention": dict(Intention.choices),
    "priority": dict(Priority.choices),
    "sector": dict(PriceSector.choices),
    "kind": dict(CentreKind.choices),
}


@register.filter
def label(value: Any, vocabulary: str) -> Any:
    return _LABELS[vocabulary].get(value, value)


@register.filter
def localised(record: dict[str, Any] | None, field: str) -> str:
    """record[field_fr] or record[field_en], whichever the page's language asks for."""
    if not record:
        return ""
    language = "en" if (get_language() or "fr").startswith("en") else "fr"
    return str(record.get(f"{field}_{language}") or record.get(f"{field}_fr") or "")


@register.filter
def term_label(name: str) -> str:
    from django.utils.translation import gettext

    names = {
        "appropriateness": gettext("Appropriateness"),
        "dose": gettext("Radiation dose"),
        "redundancy": gettext("Recent similar exam"),
        "wait": gettext("Waiting time"),
        "distance": gettext("Distance"),
        "patient_fit": gettext("Fit for the patient"),
        "sector": gettext("Extra fees"),
    }
    return names.get(name, name)


@register.filter
def minutes(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds // 60)


@register.simple_tag
def patient_line(patient: dict[str, Any]) -> str:
    """The patient in one line, as a prescriber says it: "Woman aged 30 · pregnant: no ·
    eGFR 25 mL/min/1.73 m² · 70 kg · MRI-unsafe implant" (gendered in French)."""
    from django.utils.formats import number_format
    from django.utils.translation import gettext, pgettext

    if not isinstance(patient, dict) or "age_years" not in patient:
        return ""
    age = patient["age_years"]
    sex = patient.get("sex")
    if sex == "F":
        who = pgettext("female", "Woman aged %(age)s") % {"age": age}
    elif sex == "M":
        who = pgettext("male", "Man aged %(age)s") % {"age": age}
    else:
        who = gettext("Patient aged %(age)s, sex not known") % {"age": age}
    parts = [who]
    pregnancy = patient.get("pregnancy")
    # Pregnancy is said for a woman who may be pregnant (or who is): the ages at which
    # the form asks it.
    if sex == "F" and pregnancy == "yes":
        parts.append(gettext("pregnant"))
    elif sex == "F" and isinstance(age, int) and age in CHILDBEARING_AGES:
        parts.append(
            gettext("not pregnant") if pregnancy == "no" else gettext("pregnancy not known")
        )
    if patient.get("egfr") is not None:
        parts.append(
            gettext("eGFR %(value)s mL/min/1.73 m²")
            % {"value": number_format(patient["egfr"], decimal_pos=0)}
        )
    if patient.get("weight_kg") is not None:
        parts.append(
            gettext("%(value)s kg") % {"value": number_format(patient["weight_kg"], decimal_pos=0)}
        )
    if patient.get("mri_unsafe_implant"):
        parts.append(gettext("MRI-unsafe implant"))
    if patient.get("contrast_allergy"):
        parts.append(gettext("contrast agent allergy"))
    if patient.get("claustrophobia"):
        parts.append(gettext("claustrophobia"))
    if patient.get("reduced_mobility"):
        parts.append(gettext("wheelchair"))
    return " · ".join(parts)


@register.filter
def wait_words(start: Any) -> str:
    """When a slot is, in words: "today", "tomorrow", "in 3 days"."""
    from datetime import datetime

    from django.utils import timezone
    from django.utils.translation import gettext, ngettext

    if not isinstance(start, datetime):
        return ""
    days = (timezone.localdate(start) - timezone.localdate()).days
    if days <= 0:
        return gettext("today")
    if days == 1:
        return gettext("tomorrow")
    return ngettext("in %(days)d day", "in %(days)d days", days) % {"days": days}


@register.filter
def iso_date(value: Any) -> Any:
    """A stored ISO date ("2026-04-12") shown as the page's language writes dates."""
    from datetime import date

    from django.utils.formats import date_format

    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return value
    if isinstance(value, date):
        return date_format(value, "DATE_FORMAT")
    return value


@register.simple_tag
def rank_reason(item: dict[str, Any], options: list[dict[str, Any]]) -> str:
    """Why an option ranks where it does, as a sentence: what sets it apart among the
    options for the same exam (nearest, earliest, no extra fees). The points behind
    it stay one click away."""
    from django.utils.translation import gettext

    slot = item["ranked"].slot
    if slot is None:
        return ""
    others = [o["ranked"].slot for o in options if o["ranked"].slot is not None]
    parts: list[str] = []
    distances = [o.distance_km for o in others if o.distance_km is not None]
    if slot.distance_km is not None and len(distances) > 1 and slot.distance_km <= min(distances):
        parts.append(gettext("nearest centre"))
    when = wait_words(slot.start)
    if len(others) > 1 and slot.start <= min(o.start for o in others):
        parts.append(gettext("earliest slot (%(when)s)") % {"when": when})
    else:
        parts.append(gettext("slot %(when)s") % {"when": when})
    parts.append(gettext("extra fees possible") if slot.extra_fees else gettext("no extra fees"))
    if not slot.fits_patient:
        parts.append(gettext("machine less suited to this patient"))
    # The separator is translated: French puts a non-breaking space before ";".
    sentence = gettext("; ").join(parts)
    return sentence[:1].upper() + sentence[1:]


@register.filter
def due_on(redundancy: dict[str, Any] | None) -> Any:
    """When the exam is due again: the prior's date plus the rule's interval."""
    from datetime import date, timedelta

    if not isinstance(redundancy, dict):
        return None
    try:
        done = date.fromisoformat(str(redundancy["performed_on"])[:10])
        return done + timedelta(days=int(redundancy["interval_days"]))
    except (KeyError, TypeError, ValueError):
        return None
