"""Staff set each centre's RIS endpoint here (HL7 v2 over MLLP, README "Integration")."""

from __future__ import annotations

from django.contrib import admin

from scheduling.models import RisEndpoint


@admin.register(RisEndpoint)
class RisEndpointAdmin(admin.ModelAdmin):
    list_display = ["centre", "enabled", "host", "port", "use_tls", "profile"]
    list_filter = ["enabled", "profile", "use_tls"]
    list_select_related = ["centre"]
