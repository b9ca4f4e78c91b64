"""Forms of the centre manager's pages. They only parse and validate input; the
services in scheduling.services.centres write."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from scheduling.hours import DAY_KEYS, format_day, parse_day
from scheduling.models import Centre, Equipment

# A context of their own: capitalised as form labels, while dates ("mardi 1 décembre")
# keep Django's lower-case weekdays, which a plain msgid here would override.
DAY_LABELS = {
    "mon": pgettext_lazy("opening hours", "Monday"),
    "tue": pgettext_lazy("opening hours", "Tuesday"),
    "wed": pgettext_lazy("opening hours", "Wednesday"),
    "thu": pgettext_lazy("opening hours", "Thursday"),
    "fri": pgettext_lazy("opening hours", "Friday"),
    "sat": pgettext_lazy("opening hours", "Saturday"),
    "sun": pgettext_lazy("opening hours", "Sunday"),
}


class CentreForm(forms.ModelForm):
    feed_url = forms.URLField(
        label=_("FHIR server (Slot search) URL"),
        required=False,
        assume_scheme="https",
        help_text=_("Leave empty to offer slots from the opening hours below."),
    )

    class Meta:
        model = Centre
        fields = [
            "name",
            "kind",
            "price_sector",
            "address",
            "postcode",
            "town",
            "latitude",
            "longitude",
            "phone",
            "wheelchair_accessible",
            "accessibility_notes",
            "feed_url",
            "feed_interval_seconds",
            "fhir_appointments",
            "worklist_ae_title",
        ]
        labels = {
            "name": _("Name"),
            "kind": _("Public or private"),
            "price_sector": _("Price sector"),
            "address": _("Address"),
            "postcode": _("Postcode"),
            "town": _("Town"),
            "latitude": _("Latitude"),
            "longitude": _("Longitude"),
            "phone": _("Phone"),
            "wheelchair_accessible": _("Wheelchair accessible"),
            "accessibility_notes": _("Accessibility notes"),
            "feed_interval_seconds": _("Refresh interval (seconds)"),
            "fhir_appointments": _("Send bookings to the FHIR server"),
        }

    def clean_latitude(self) -> float:
        value: float = self.cleaned_data["latitude"]
        if not -90 <= value <= 90:
            raise ValidationError(_("A latitude lies between -90 and 90."))
        return value

    def clean_longitude(self) -> float:
        value: float = self.cleaned_data["longitude"]
        if not -180 <= value <= 180:
            raise ValidationError(_("A longitude lies between -180 and 180."))
        return value


class OpeningHoursForm(forms.Form):
    """One field per day, typed as ``08:00-12:30, 13:30-19:00``; empty is closed."""

    def __init__(self, *args: Any, centre: Centre, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for day in DAY_KEYS:
            self.fields[day] = forms.CharField(
                label=DAY_LABELS[day],
                required=False,
                max_length=200,
                initial=format_day(centre.opening_hours.get(day, [])),
                help_text=_("e.g. 08:00-12:30, 13:30-19:00; empty: closed"),
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for day in DAY_KEYS:
            if day in cleaned:
                try:
                    cleaned[day] = parse_day(cleaned[day])
                except ValidationError as exc:
                    self.add_error(day, exc)
        return cleaned

    def hours(self) -> dict[str, list[list[str]]]:
        return {day: self.cleaned_data[day] for day in DAY_KEYS if self.cleaned_data.get(day)}


class EquipmentForm(forms.ModelForm):
    procedure_codes_text = forms.CharField(
        label=_("Procedures performed (catalogue codes)"),
        required=False,
        help_text=_("Comma-separated; empty: every procedure of the modality."),
    )

    class Meta:
        model = Equipment
        fields = [
            "name",
            "modality",
            "open_bore",
            "wide_bore",
            "table_max_weight_kg",
            "paediatric",
            "contrast_injection",
            "sedation",
            "slot_minutes",
            "fhir_schedule",
            "station_ae_title",
        ]
        labels = {
            "name": _("Name"),
            "modality": _("Modality"),
            "open_bore": _("Open-bore MRI"),
            "wide_bore": _("Wide bore"),
            "table_max_weight_kg": _("Table weight limit (kg)"),
            "paediatric": _("Paediatric"),
            "contrast_injection": _("Contrast injection"),
            "sedation": _("Sedation"),
            "slot_minutes": _("Exam slot length (minutes)"),
            "fhir_schedule": _("FHIR Schedule reference"),
        }
        help_texts = {
            "fhir_schedule": _(
                "How the centre's FHIR server names this machine, e.g. Schedule/mri-1."
            ),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["procedure_codes_text"].initial = ", ".join(self.instance.procedure_codes)

    def clean_procedure_codes_text(self) -> list[str]:
        text: str = self.cleaned_data["procedure_codes_text"]
        return [code.strip() for code in text.split(",") if code.strip()]
