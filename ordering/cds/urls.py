from __future__ import annotations

from django.urls import path

from ordering.cds import views

urlpatterns = [
    path("cds-services", views.DiscoveryApi.as_view(), name="cds-discovery"),
    path("cds-services/<slug:service_id>", views.ServiceApi.as_view(), name="cds-service"),
    path(
        "cds-services/<slug:service_id>/feedback", views.FeedbackApi.as_view(), name="cds-feedback"
    ),
]
