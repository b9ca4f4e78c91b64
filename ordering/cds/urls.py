from __future__ import annotations

from django.conf import settings
from django.urls import path

from ordering.cds import views

urlpatterns = [
    path("cds-services", views.DiscoveryApi.as_view(), name="cds-discovery"),
    path("cds-services/<slug:service_id>", views.ServiceApi.as_view(), name="cds-service"),
    path(
        "cds-services/<slug:service_id>/feedback", views.FeedbackApi.as_view(), name="cds-feedback"
    ),
]

if settings.CDS_FLOOR_ENDPOINT:
    # Only for the benchmark's floor (bench/cds_order_select.py); off by default.
    urlpatterns.append(path("cds-floor", views.FloorApi.as_view(), name="cds-floor"))
