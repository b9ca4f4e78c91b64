from __future__ import annotations

from django.urls import path

from ordering.api import fhir

urlpatterns = [
    path("ServiceRequest/<str:order_id>", fhir.ServiceRequestReadApi.as_view(), name="fhir-sr"),
    path("Slot", fhir.SlotSearchFhirApi.as_view(), name="fhir-slot"),
]
