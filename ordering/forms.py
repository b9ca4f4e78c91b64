"""The prescriber's patient form: every value checked, each error next to its field."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ordering.contract import (
    IdentityTraits,
    InputError,
    PatientInput,
    age_in_years,
    identity_traits_validate,
    patient_validate,
)
from ordering.decision import OptionFilters
from ordering.models import PrescriberProfile
from ordering.record import CHILDBEARING_AGES
from ordering.rpps import rpps_normalise
from scheduling.models import Centre

# Dates are typed day/month/year whatever the browser's language: a date picker
# follows the browser's locale, and an order was once signed for 12/04 read as
# 4 December. ISO dates (what an API or a test sends) are read too.
DAY_MONTH_YEAR = ["%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y-%m-%d"]


class DayMonthYearInput(forms.DateInput):
    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(
            format="%d/%m/%Y",
            attrs={
                "placeholder": _("DD/MM/YYYY"),
                "inputmode": "numeric",
                "autocomplete": "off",
                "pattern": r"\d{2}[/.\-]\d{2}[/.\-]\d{4}|\d{4}-\d{2}-\d{2}",
                **(attrs or {}),
            },
        )


def _may_be_pregnant(data: dict[str, Any]) -> bool:
    born = data.get("birth_date")
    if data.get("sex") != "F" or born is None:
        return False
    return age_in_years(born, timezone.localdate()) in CHILDBEARING_AGES


class PatientForm(forms.Form):
    identifier_kind = forms.ChoiceField(
        label=_("Identifier type"),
        choices=[("ins", _("INS (national health identifier)")), ("local", _("Local identifier"))],
        initial="ins",
    )
    identifier = forms.CharField(label=_("Patient identifier"), max_length=40)
    # Printed on the order for the centre; kept on the order only, never in the
    # decision's record (ordering.contract.identity_traits_validate).
    birth_name = forms.CharField(label=_("Birth name"), max_length=100)
    given_names = forms.CharField(label=_("First given name(s)"), max_length=150)
    # Typed day/month/year whatever the browser's language: a date picker follows the
    # browser's locale, and an order was once signed for 12/04 read as 4 December.
    birth_date = forms.DateField(
        label=_("Birth date"),
        input_formats=DAY_MONTH_YEAR,
        widget=DayMonthYearInput(),
        help_text=_("Day, month, year: 12/04/1958."),
    )
    # No default: a sex or a pregnancy status the prescriber did not choose would be
    # a fact nobody stated (a default "female" once rated a man's exams).
    sex = forms.ChoiceField(
        label=_("Sex"),
        choices=[("", "—"), ("F", _("Female")), ("M", _("Male")), ("U", _("Unknown"))],
    )
    postcode = forms.CharField(
        label=_("Postcode of residence"),
        max_length=5,
        required=False,
        help_text=_("Five digits; used to compute distances."),
    )
    pregnancy = forms.ChoiceField(
        label=_("Pregnancy"),
        choices=[("", "—"), ("no", _("No")), ("yes", _("Yes")), ("unknown", _("Not known"))],
        required=False,
        help_text=_("Required for a woman aged 12 to 55."),
    )
    # Ranges and every other rule are ordering.contract's, shared with the REST API
    # and CDS Hooks; the fields only parse.
    weight_kg = forms.FloatField(label=_("Weight (kg)"), required=False)
    egfr = forms.FloatField(label=_("eGFR (mL/min/1.73 m²)"), required=False)
    egfr_date = forms.DateField(
        label=_("eGFR measured on"),
        required=False,
        input_formats=DAY_MONTH_YEAR,
        widget=DayMonthYearInput(),
    )
    mri_unsafe_implant = forms.BooleanField(label=_("MRI-unsafe implant"), required=False)
    contrast_allergy = forms.BooleanField(label=_("Contrast agent allergy"), required=False)
    claustrophobia = forms.BooleanField(label=_("Claustrophobia"), required=False)
    reduced_mobility = forms.BooleanField(label=_("Reduced mobility (wheelchair)"), required=False)

    checked: PatientInput | None = None
    traits: IdentityTraits | None = None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("pregnancy") and _may_be_pregnant(data):
            self.add_error(
                "pregnancy",
                _(
                    "Answer for a woman aged 12 to 55: yes, no, or not known (then "
                    "checked before any ionising exam of the abdomen or pelvis)."
                ),
            )
        try:
            self.checked = patient_validate(
                identifier=data.get("identifier"),
                identifier_kind=data.get("identifier_kind"),
                birth_date=data.get("birth_date"),
                sex=data.get("sex"),
                postcode=data.get("postcode"),
                pregnancy=data.get("pregnancy"),
                weight_kg=data.get("weight_kg"),
                egfr=data.get("egfr"),
                mri_unsafe_implant=bool(data.get("mri_unsafe_implant")),
                contrast_allergy=bool(data.get("contrast_allergy")),
                claustrophobia=bool(data.get("claustrophobia")),
                reduced_mobility=bool(data.get("reduced_mobility")),
                egfr_date=data.get("egfr_date"),
            )
        except InputError as error:
            self._errors_add(error)
        try:
            self.traits = identity_traits_validate(
                birth_name=data.get("birth_name"), given_names=data.get("given_names")
            )
        except InputError as error:
            self._errors_add(error)
        return data

    def _errors_add(self, error: InputError) -> None:
        for name, messages in error.errors.items():
            if name in self.errors:  # the field's own parse error says it already
                continue
            for message in messages:
                self.add_error(name if name in self.fields else None, message)

    def to_identity_traits(self) -> IdentityTraits:
        assert self.traits is not None, "call is_valid() first"
        return self.traits

    def to_patient_input(self) -> PatientInput:
        assert self.checked is not None, "call is_valid() first"
        return self.checked


class FilterForm(forms.Form):
    """Filters of the options list; they re-rank in place (htmx)."""

    max_distance_km = forms.IntegerField(
        label=_("Within (km)"), min_value=1, max_value=500, initial=60, required=False
    )
    public_only = forms.BooleanField(label=_("Public hospitals only"), required=False)
    not_before = forms.DateField(
        label=_("Not before"),
        required=False,
        input_formats=DAY_MONTH_YEAR,
        widget=DayMonthYearInput(),
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


class PrescriberProfileForm(forms.ModelForm):
    """What the printed order says of its prescriber; the name is the account's."""

    first_name = forms.CharField(label=_("First name"), max_length=150)
    last_name = forms.CharField(label=_("Last name"), max_length=150)
    # Longer than 11: spaces typed between groups are removed before the check.
    rpps = forms.CharField(label=_("RPPS number"), max_length=20)
    field_order = ["first_name", "last_name", "rpps", "speciality", "address", "postcode", "town"]

    class Meta:
        model = PrescriberProfile
        fields = ["rpps", "speciality", "address", "postcode", "town", "phone"]
        help_texts = {"rpps": _("11 digits, as on your CPS card.")}

    def clean_rpps(self) -> str:
        return rpps_normalise(self.cleaned_data.get("rpps") or "")


class OrderEmailForm(forms.Form):
    # Used once to send the order, then forgotten: never stored or logged.
    address = forms.EmailField(label=_("Patient's e-mail address"), max_length=254)
