"""Staff register EHR clients here as `manage.py ehr_client_register` does: the same
JWKS check (ordering.jwks). REST API tokens are DRF's own admin (authtoken, "Tokens")."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from imaging_cds.roles import Role, has_role
from ordering.jwks import jwks_validate
from ordering.models import EhrClient


class EhrClientForm(forms.ModelForm):
    class Meta:
        model = EhrClient
        fields = ["name", "issuer", "jwks", "user", "active"]
        labels = {"jwks": _("Public keys (JWKS)")}

    def clean_jwks(self) -> Any:
        return jwks_validate(self.cleaned_data.get("jwks"))

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
