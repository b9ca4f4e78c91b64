"""The patient's booking page: public, keyed by the order's unguessable token (the
QR code on an order signed without a booking)."""

from __future__ import annotations

from django.urls import path

from ordering import order_views

app_name = "booking"
urlpatterns = [
    path("<str:token>/", order_views.booking_page, name="page"),
]
