"""The prescriber's patient form: every value checked, each error next to its field."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ordering.decision import OptionFilters, PatientInput
from scheduling.geo import commune_lookup
from scheduling.models import Centre

_INS_RE = re.compile(r"^[12][0-9]{2}(0[1-9]|1[0-2]|[2-9][0-9])(2[AB]|[0-9]{2})[0-9]{6}[0-9]{2}$")
_LOCAL_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{2,39}$")


def ins_is_valid(value: str) -> bool:
    """The INS is the NIR: 13 characters and a 2-digit key, 97 - (number mod 97).
    Corsica's 2A/2B count as 19/18 for the key."""
    if not _INS_RE.match(value):
        return False
    body = value[:13].replace("2A", "19").replace("2B", "18")
    return 97 - int(body) % 97 == int(value[13:])


class PatientForm(forms.Form):
    identifier_kind = forms.ChoiceField(
        label=_("Identifier type"),
        choices=[("ins", _("INS (national health identifier)")), ("local", _("Local identifier"))],
        initial="ins",
    )
    identifier = forms.CharField(label=_("Patient identifier"), max_length=40)
    birth_date = forms.DateField(
        label=_("Birth date"), widget=forms.DateInput(attrs={"type": "date"})
    )
    sex = forms.ChoiceField(
        label=_("Sex"), choices=[("F", _("Female")), ("M", _("Male")), ("U", _("Unknown"))]
    )
    postcode = forms.CharField(
        label=_("Postcode of residence"),
        max_length=5,
        help_text=_("Five digits; used to compute distances."),
    )
    pregnancy = forms.ChoiceField(
        label=_("Pregnancy"),
        choices=[("no", _("No")), ("yes", _("Yes")), ("unknown", _("Unknown"))],
        initial="unknown",
    )
    weight_kg = forms.DecimalField(
        label=_("Weight (kg)"), required=False, min_value=1, max_value=350, decimal_places=1
    )
    egfr = forms.DecimalField(
        label=_("eGFR (mL/min/1.73 m²)"),
        required=False,
        min_value=1,
        max_value=200,
        decimal_places=1,
    )
    mri_unsafe_implant = forms.BooleanField(label=_("MRI-unsafe implant"), required=False)
    contrast_allergy = forms.BooleanField(label=_("Contrast agent allergy"), required=False)
    claustrophobia = forms.BooleanField(label=_("Claustrophobia"), required=False)
    reduced_mobility = forms.BooleanField(label=_("Reduced mobility (wheelchair)"), required=False)

    def clean_identifier(self) -> str:
        return "".join(str(self.cleaned_data["identifier"]).split()).upper()

    def clean_birth_date(self) -> date:
        born: date = self.cleaned_data["birth_date"]
        today = timezone.localdate()
        if born > today:
            raise forms.ValidationError(_("The birth date is in the future."))
        if today.year - born.year > 120:
            raise forms.ValidationError(_("The birth date is more than 120 years ago."))
        return born

    def clean_postcode(self) -> str:
        value = str(self.cleaned_data["postcode"]).strip()
        if not re.fullmatch(r"[0-9]{5}|2[AB][0-9]{3}", value):
            raise forms.ValidationError(_("A French postcode has five digits."))
        if commune_lookup(postcode=value) is None:
            raise forms.ValidationError(
                _("This postcode is outside the territory served: distances cannot be computed.")
            )
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind, identifier = data.get("identifier_kind"), data.get("identifier")
        if identifier:
            if kind == "ins" and not ins_is_valid(identifier):
                self.add_error(
                    "identifier",
                    _("This is not a valid INS: 15 characters whose last two are the key."),
                )
            elif kind == "local" and not _LOCAL_ID_RE.match(identifier):
                self.add_error(
                    "identifier",
                    _("A local identifier has 3 to 40 letters, digits, dots, dashes, underscores."),
                )
        if data.get("sex") == "M" and data.get("pregnancy") == "yes":
            self.add_error("pregnancy", _("Pregnancy cannot be 'yes' for a male patient."))
        return data

    def to_patient_input(self) -> PatientInput:
        data = self.cleaned_data
        weight, egfr = data.get("weight_kg"), data.get("egfr")
        return PatientInput(
            identifier=data["identifier"],
            identifier_kind=data["identifier_kind"],
            birth_date=data["birth_date"],
            sex=data["sex"],
            postcode=data["postcode"],
            pregnancy=data["pregnancy"],
            weight_kg=float(weight) if weight is not None else None,
            egfr=float(egfr) if egfr is not None else None,
            mri_unsafe_implant=bool(data.get("mri_unsafe_implant")),
            contrast_allergy=bool(data.get("contrast_allergy")),
            claustrophobia=bool(data.get("claustrophobia")),
            reduced_mobility=bool(data.get("reduced_mobility")),
        )


class FilterForm(forms.Form):
    """Filters of the options list; they re-rank in place (htmx)."""

    max_distance_km = forms.IntegerField(
        label=_("Within (km)"), min_value=1, max_value=500, initial=60, required=False
    )
    public_only = forms.BooleanField(label=_("Public hospitals only"), required=False)
    not_before = forms.DateField(
        label=_("Not before"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    centre = forms.ModelChoiceField(
        label=_("Centre"),
        queryset=Centre.objects.order_by("name"),
        required=False,
        empty_label=_("Any centre"),
    )

    def to_filters(self) -> OptionFilters:
        data = self.cleaned_data if self.is_valid() else {}
        centre = data.get("centre")
        return OptionFilters(
            max_distance_km=float(data.get("max_distance_km") or 60),
            public_only=bool(data.get("public_only")),
            not_before=data.get("not_before"),
            centre_id=centre.pk if centre else None,
        )
