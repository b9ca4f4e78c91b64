"""Staff register EHR clients here as `manage.py ehr_client_register` does: the same
JWKS check (ordering.jwks). REST API tokens are DRF's own admin (authtoken, "Tokens")."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from imaging_cds.roles import Role, has_role
from ordering.ehr_clients import allow_list_validate
from ordering.jwks import jwks_validate
from ordering.models import EhrClient, EhrPractitioner, PrescriberProfile


class EhrClientForm(forms.ModelForm):
    class Meta:
        model = EhrClient
        fields = [
            "name",
            "issuer",
            "jwks",
            "jwks_url",
            "fhir_servers",
            "smart_client_id",
            "user",
            "active",
        ]
        labels = {"jwks": _("Public keys (JWKS)")}

    def clean_jwks(self) -> Any:
        return jwks_validate(self.cleaned_data.get("jwks"))

    def clean_fhir_servers(self) -> Any:
        servers = self.cleaned_data.get("fhir_servers") or []
        if not isinstance(servers, list) or not all(isinstance(s, str) for s in servers):
            raise forms.ValidationError(_("A list of FHIR base URLs."))
        return allow_list_validate(servers)

    def clean_jwks_url(self) -> Any:
        url = self.cleaned_data.get("jwks_url") or ""
        if url:
            allow_list_validate([url])
        return url

    def clean_user(self) -> Any:
        user = self.cleaned_data.get("user")
        if user is not None and not has_role(user, Role.API_CLIENT):
            raise forms.ValidationError(_("The account must hold the api_client role."))
        return user


@admin.register(EhrClient)
class EhrClientAdmin(admin.ModelAdmin):
    form = EhrClientForm
    list_display = ["name", "issuer", "user", "active"]
    list_filter = ["active"]
    search_fields = ["name", "issuer"]
    raw_id_fields = ["user"]


class EhrPractitionerForm(forms.ModelForm):
    class Meta:
        model = EhrPractitioner
        fields = ["client", "ehr_user_id", "user"]

    def clean_user(self) -> Any:
        user = self.cleaned_data.get("user")
        if user is not None and not has_role(user, Role.PRESCRIBER):
            raise forms.ValidationError(_("The account must hold the prescriber role."))
        return user


@admin.register(EhrPractitioner)
class EhrPractitionerAdmin(admin.ModelAdmin):
    """Which local prescriber an EHR's hook userId is: card links open for them only."""

    form = EhrPractitionerForm
    list_display = ["ehr_user_id", "client", "user"]
    list_filter = ["client"]
    search_fields = ["ehr_user_id", "user__username"]
    raw_id_fields = ["user"]


@admin.register(PrescriberProfile)
class PrescriberProfileAdmin(admin.ModelAdmin):
    """The prescriber's details printed on orders; the RPPS number is checked (11
    digits, Luhn key) by the model's validator, here as on the profile page."""

    list_display = ["user", "rpps", "service", "town", "phone"]
    # The service scopes decision-support modes (ordering.pilot.modes).
    list_filter = ["service"]
    search_fields = ["user__username", "user__last_name", "rpps"]
    raw_id_fields = ["user"]

    def get_form(self, request: Any, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        user_field = form.base_fields.get("user")
        if user_field is not None:
            user_field.help_text = _("A prescriber's account.")
        return form
