from __future__ import annotations

from django.urls import path

from ordering import order_views, outbox_views, smart_views, views

app_name = "ordering"
urlpatterns = [
    path("", views.order_list, name="orders"),
    path("new/", views.order_new, name="new"),
    path("new/understanding/", views.understanding, name="understanding"),
    path("new/red-flags/", views.red_flags, name="red_flags"),
    path("new/risk/", views.risk_apply, name="risk_apply"),
    path("c/<uuid:consultation_id>/", views.consultation_page, name="consultation"),
    path("c/<uuid:consultation_id>/hold/", views.slot_hold_view, name="hold"),
    path("c/<uuid:consultation_id>/sign/", views.order_sign_view, name="sign"),
    path("<uuid:order_id>/", views.order_detail, name="order"),
    path("<uuid:order_id>/cancel/", views.order_cancel_view, name="cancel"),
    path("<uuid:order_id>/pdf/", order_views.order_pdf_view, name="pdf"),
    path("<uuid:order_id>/email/", order_views.order_email_view, name="email"),
    path("profile/", order_views.prescriber_profile, name="profile"),
    path("weights/", views.weights_page, name="weights"),
    # SMART on FHIR launch from the EHR (ordering.smart).
    path("smart/launch/", smart_views.smart_launch, name="smart_launch"),
    path("smart/callback/", smart_views.smart_callback, name="smart_callback"),
    path(
        "centre/<int:centre_id>/messages/",
        outbox_views.centre_messages,
        name="centre_messages",
    ),
    path(
        "centre/<int:centre_id>/messages/<int:message_id>/retry/",
        outbox_views.message_retry,
        name="message_retry",
    ),
]
