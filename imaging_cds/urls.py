from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from imaging_cds import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("guidelines/", include("guidelines.urls")),
    path("centres/", include("scheduling.urls")),
    path("audit/", include("imaging_cds.audit_urls")),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(template_name="imaging_cds/login.html"),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("orders/", include("ordering.urls")),
    path("reports/", include("ordering.pilot.urls")),
    path("rdv/", include("ordering.booking_urls")),
    path("api/v1/", include("ordering.api.urls")),
    path("", include("ordering.cds.urls")),
    path("fhir/", include("ordering.api.fhir_urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]
