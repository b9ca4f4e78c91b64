from __future__ import annotations

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from ordering.api import views
from ordering.api.errors import api_not_found

urlpatterns = [
    path("ping", views.PingApi.as_view(), name="api-ping"),
    path("procedures", views.ProcedureListApi.as_view(), name="api-procedures"),
    path("indications", views.IndicationSearchApi.as_view(), name="api-indications"),
    path("evaluate", views.EvaluateApi.as_view(), name="api-evaluate"),
    path(
        "consultations/<uuid:consultation_id>",
        views.ConsultationDetailApi.as_view(),
        name="api-consultation",
    ),
    path(
        "consultations/<uuid:consultation_id>/feedback",
        views.FeedbackCreateApi.as_view(),
        name="api-feedback",
    ),
    path("slots", views.SlotSearchApi.as_view(), name="api-slots"),
    path("holds", views.HoldCreateApi.as_view(), name="api-holds"),
    path("orders", views.OrderCreateApi.as_view(), name="api-orders"),
    path("orders/<uuid:order_id>", views.OrderDetailApi.as_view(), name="api-order"),
    path("orders/<uuid:order_id>/cancel", views.OrderCancelApi.as_view(), name="api-order-cancel"),
    path("schema", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up code as a file: no inline script (CSP).
    path("docs", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    # Last: whatever else is under /api/v1/ answers the API's JSON 404.
    re_path(r"^(?P<rest>.*)$", api_not_found, name="api-not-found"),
]
