from __future__ import annotations

from django.urls import path

from ordering.pilot import views

app_name = "pilot"

urlpatterns = [
    path("pilot/", views.report_page, name="report"),
    path("pilot/report.csv", views.report_csv, name="report_csv"),
    path("pilot/report.pdf", views.report_pdf, name="report_pdf"),
    path("pilot/modes/", views.modes_page, name="modes"),
    path("pilot/plot/<slug:name>.svg", views.report_plot, name="plot"),
]
