"""The prescriber's patient form: every value checked, each error next to its field."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from guidelines.context import PatientContext, PriorExamFact

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


def age_in_years(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def patient_context_build(
    *,
    cleaned: dict[str, Any],
    red_flags: frozenset[str],
    prior_exams: tuple[PriorExamFact, ...],
    today: date,
) -> PatientContext:
    weight = cleaned.get("weight_kg")
    egfr = cleaned.get("egfr")
    return PatientContext(
        age_years=age_in_years(cleaned["birth_date"], today),
        sex=cleaned["sex"],
        pregnancy=cleaned["pregnancy"],
        red_flags=red_flags,
        egfr=float(egfr) if egfr is not None else None,
        mri_unsafe_implant=bool(cleaned.get("mri_unsafe_implant")),
        contrast_allergy=bool(cleaned.get("contrast_allergy")),
        claustrophobia=bool(cleaned.get("claustrophobia")),
        weight_kg=float(weight) if weight is not None else None,
        reduced_mobility=bool(cleaned.get("reduced_mobility")),
        prior_exams=prior_exams,
        today=today,
    )
