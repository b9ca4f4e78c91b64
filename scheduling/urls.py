from __future__ import annotations

from django.urls import path

from scheduling import views

app_name = "scheduling"

urlpatterns = [
    path("", views.centre_list, name="centre_list"),
    path("<int:centre_id>/", views.centre_detail, name="centre_detail"),
    path("<int:centre_id>/edit/", views.centre_edit, name="centre_edit"),
    path("<int:centre_id>/hours/", views.centre_hours, name="centre_hours"),
    path("<int:centre_id>/feed/", views.centre_feed, name="centre_feed"),
    path("<int:centre_id>/equipment/new/", views.equipment_edit, name="equipment_add"),
    path(
        "<int:centre_id>/equipment/<int:equipment_id>/",
        views.equipment_edit,
        name="equipment_edit",
    ),
]
