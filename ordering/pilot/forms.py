"""The forms of the pilot pages: a mode period, and the report's filters."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from ordering.models import CdsModeValue, PilotChannel
from ordering.pilot.report import Filters


class CdsModeForm(forms.Form):
    mode = forms.ChoiceField(label=_("Mode"), choices=CdsModeValue.choices)
    service = forms.CharField(
        label=_("Service"),
        max_length=100,
        required=False,
        help_text=_(
            "Empty: the whole site. Otherwise a service as written in prescribers' profiles."
        ),
    )
    starts_on = forms.DateField(
        label=_("From"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    ends_on = forms.DateField(
        label=_("Until (inclusive)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2}))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        starts, ends = data.get("starts_on"), data.get("ends_on")
        if starts and ends and ends < starts:
            self.add_error("ends_on", _("The period ends before it starts."))
        return data


class ReportFilterForm(forms.Form):
    since = forms.DateField(
        label=_("From"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    until = forms.DateField(
        label=_("Until"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    service = forms.CharField(label=_("Service"), max_length=100, required=False)
    channel = forms.ChoiceField(
        label=_("Channel"),
        required=False,
        choices=[("", _("All")), *PilotChannel.choices],
    )

    def to_filters(self) -> Filters:
        if not self.is_valid():
            return Filters()
        data = self.cleaned_data
        return Filters(
            since=data.get("since"),
            until=data.get("until"),
            service=data.get("service") or "",
            channel=data.get("channel") or "",
        )
