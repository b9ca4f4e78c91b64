from __future__ import annotations

from django.urls import path

from guidelines import views

app_name = "guidelines"

urlpatterns = [
    path("", views.rule_sets, name="rule_sets"),
    path("import/", views.rule_set_import_view, name="import"),
    path("indications/search/", views.indication_search, name="indication_search"),
    path("v<int:version>/", views.rule_set_detail, name="rule_set"),
    path("v<int:version>/clone/", views.rule_set_clone_view, name="clone"),
    path("v<int:version>/diff/", views.rule_set_diff_view, name="diff"),
    path("v<int:version>/golden/", views.rule_set_golden, name="golden"),
    path("v<int:version>/publish/", views.rule_set_publish_view, name="publish"),
    path("v<int:version>/rollback/", views.rule_set_rollback_view, name="rollback"),
    path("v<int:version>/export.<str:fmt>", views.rule_set_export_view, name="export"),
    path("rules/<int:rule_id>/", views.rule_detail, name="rule"),
    path("rules/<int:rule_id>/edit/", views.rule_edit, name="rule_edit"),
]
