"""The audit-trail search form. The patient identifier is typed in a POSTed form and
hashed here, server-side: it never travels in a URL and is never stored."""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from imaging_cds.pseudonym import pseudonymise


class AuditSearchForm(forms.Form):
    identifier_kind = forms.ChoiceField(
        label=_("Identifier type"),
        choices=[("ins", _("INS (national health identifier)")), ("local", _("Local identifier"))],
        initial="ins",
    )
    identifier = forms.CharField(label=_("Patient identifier"), max_length=40, required=False)
    username = forms.CharField(label=_("User"), max_length=150, required=False)
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    reason = forms.CharField(
        label=_("Why you consult the trail"),
        max_length=500,
        help_text=_("Recorded in the trail with your search."),
    )

    def clean_identifier(self) -> str:
        return "".join(str(self.cleaned_data["identifier"]).split()).upper()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start: date | None = data.get("date_from")
        end: date | None = data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("The end date is before the start date."))
        return data

    def patient_ref(self) -> str:
        """The pseudonym the trail records for this patient, as PatientInput.reference."""
        identifier = self.cleaned_data.get("identifier") or ""
        if not identifier:
            return ""
        return pseudonymise(f"{self.cleaned_data['identifier_kind']}|{identifier}")
