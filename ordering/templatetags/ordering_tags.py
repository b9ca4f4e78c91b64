"""Display helpers for the ordering pages: labels of stored codes, in the page's language."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import get_language

from guidelines.models import Category, DoseClass, Evidence, Intention, Priority
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
