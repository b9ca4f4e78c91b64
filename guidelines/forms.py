"""Forms of the authoring pages. Validation is the services' (one place)."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from guidelines.conditions import conditions_parse
from guidelines.models import Area, Category, Rule
from guidelines.rulepack import conditions_normalise
from guidelines.services.rulesets import RULE_EDIT_FIELDS


class RuleForm(forms.ModelForm):
    conditions = forms.CharField(
        label=_("Conditions (JSON, closed vocabulary)"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text=_('For example {"age_min": 18, "red_flags_any": ["focal-deficit"]}; {} for all.'),
    )
    source_url = forms.URLField(
        label=_("Source link"), required=False, max_length=200, assume_scheme="https"
    )
    reason = forms.CharField(
        label=_("Why this change"), widget=forms.Textarea(attrs={"rows": 2}), max_length=2000
    )

    class Meta:
        model = Rule
        fields = [name for name in RULE_EDIT_FIELDS]
        labels = {
            "category": _("Category"),
            "evidence": _("Evidence"),
            "intention": _("Intention"),
            "priority": _("Priority"),
            "rationale_fr": _("Rationale (French)"),
            "rationale_en": _("Rationale (English)"),
            "source_document": _("Source document"),
            "source_section": _("Source section"),
            "source_year": _("Source year"),
            "repeat_interval_days": _("Repeat interval (days)"),
            "review": _("Needs a clinician's review (why)"),
        }
        help_texts = {
            "review": _("Leave empty once a clinician has checked the rule against its source."),
        }
        widgets = {
            "rationale_fr": forms.Textarea(attrs={"rows": 3}),
            "rationale_en": forms.Textarea(attrs={"rows": 3}),
            "review": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["conditions"] = json.dumps(
                self.instance.conditions or {}, ensure_ascii=False
            )

    def clean_conditions(self) -> dict[str, Any]:
        text = (self.cleaned_data.get("conditions") or "").strip() or "{}"
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(_("Not valid JSON: %(msg)s") % {"msg": exc.msg}) from exc
        flags = [flag["code"] for flag in self.instance.indication.red_flags or ()]
        _parsed, errors = conditions_parse(value, red_flag_codes=flags)
        if errors:
            raise forms.ValidationError([str(e) for e in errors])
        normalised: dict[str, Any] = conditions_normalise(value)
        return normalised


class RuleSearchForm(forms.Form):
    q = forms.CharField(label=_("Indication"), required=False)
    procedure = forms.CharField(label=_("Procedure"), required=False)
    category = forms.ChoiceField(
        label=_("Category"), required=False, choices=[("", _("Any")), *Category.choices]
    )
    area = forms.ChoiceField(
        label=_("Area"), required=False, choices=[("", _("Any")), *Area.choices]
    )


class PublishForm(forms.Form):
    reason = forms.CharField(label=_("Note"), required=False, max_length=2000)
    override_reason = forms.CharField(
        label=_("Publish anyway, because"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Why"), max_length=2000)


class ImportForm(forms.Form):
    file = forms.FileField(label=_("Rule set file (YAML or JSON)"))
    reason = forms.CharField(label=_("Why"), required=False, max_length=2000)
