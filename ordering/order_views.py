"""The signed order's pages: the order itself (print view), its PDF, sending it to
the patient by e-mail, the patient's booking page (public, keyed by an unguessable
token), and the prescriber's profile that the printed order reads."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import segno
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from imaging_cds.audit import audit_record
from imaging_cds.roles import Role, role_required
from ordering.booking_centres import booking_centres
from ordering.centre_fhir.refusal import slot_gone
from ordering.forms import OrderEmailForm, PrescriberProfileForm
from ordering.models import Order, OrderStatus, PrescriberProfile
from ordering.order_mail import order_email_send
from ordering.order_pdf import order_pdf
from ordering.order_sheet import order_reference, order_sheet
from ordering.record import ConsultationRecord, localised
from ordering.selectors import order_get, order_read
from ordering.services import order_book
from scheduling.services.booking import SlotTakenError


def booking_url(request: Any, order: Order) -> str:
    """The booking page's absolute URL (a page or a DRF request both build it)."""
    return request.build_absolute_uri(
        reverse("booking:page", kwargs={"token": order.booking_token})
    )


def _qr_svg(url: str) -> str:
    # segno writes plain SVG (no script, no style attribute): safe inline under the CSP.
    return segno.make(url, error="m").svg_inline(scale=4, border=2, omitsize=True)


def _bookable(order: Order) -> bool:
    return order.booking_id is None and order.status == OrderStatus.SIGNED


def order_page_context(request: HttpRequest, order: Order) -> dict[str, Any]:
    """The order page: the printable sheet, and on screen only the booking details
    of an unbooked order, the PDF, the e-mail form and what the profile lacks."""
    context: dict[str, Any] = {
        "order": order,
        "sheet": order_sheet(order),
        "email_form": OrderEmailForm(),
        # Whether the centre's RIS received the order (ordering.outbox).
        "deliveries": list(order.outbound_messages.all()),
        # The centre refused the booking (slot gone): say it, and offer to book again.
        "slot_gone": slot_gone(order),
    }
    if _bookable(order):
        url = booking_url(request, order)
        context.update(
            booking_url=url,
            qr_svg=mark_safe(_qr_svg(url)),  # noqa: S308  segno's own markup, no input
            centres=booking_centres(order),
        )
    return context


@require_GET
@role_required(Role.PRESCRIBER)
def order_pdf_view(request: HttpRequest, order_id: uuid.UUID) -> HttpResponse:
    order = order_read(request=request, order_id=order_id)
    bookable = _bookable(order)
    pdf = order_pdf(
        order_sheet(order),
        booking_url=booking_url(request, order) if bookable else None,
        centres=booking_centres(order) if bookable else [],
    )
    response = HttpResponse(pdf, content_type="application/pdf")
    # The reference only: a file name must not name the patient.
    name = f"ordonnance-imagerie-{order_reference(order)}.pdf"
    response["Content-Disposition"] = f'inline; filename="{name}"'
    response["Cache-Control"] = "no-store, private"
    return response


@sensitive_post_parameters("address")
@sensitive_variables("form")
@require_POST
@role_required(Role.PRESCRIBER)
def order_email_view(request: HttpRequest, order_id: uuid.UUID) -> HttpResponse:
    order = order_get(user=request.user, order_id=order_id)
    form = OrderEmailForm(request.POST)
    if form.is_valid():
        try:
            order_email_send(
                order=order,
                address=form.cleaned_data["address"],
                booking_url=booking_url(request, order) if _bookable(order) else None,
                user=request.user,
                request=request,
            )
        except ValidationError as error:
            form.add_error("address", error)
        else:
            messages.success(request, _("The order was sent to the patient."))
            return redirect("ordering:order", order_id=order.pk)
    context = order_page_context(request, order)
    context["email_form"] = form
    return render(request, "ordering/order.html", context, status=400)


def _booking_page_response(
    request: HttpRequest, context: dict[str, Any], status: int
) -> HttpResponse:
    response = render(request, "ordering/booking_page.html", context, status=status)
    # The token is the key: keep the page out of search engines, shared caches and
    # the Referer of any link followed from it.
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-store, private"
    return response


def _booked_context(order: Order) -> dict[str, Any]:
    """What the patient needs to go to the appointment: where and when, the exam and
    the reference (still nothing that names them)."""
    booking: Any = order.booking
    centre = booking.slot.equipment.centre
    return {
        "booked": True,
        "exam": localised(order.procedure, "label"),
        "reference": order_reference(order),
        "start": booking.slot.start,
        "centre": centre,
    }


@never_cache
@require_http_methods(["GET", "POST"])
def booking_page(request: HttpRequest, token: str) -> HttpResponse:
    """The patient's page (QR code on the order): the exam to book, the reference to
    quote and the centres that can do it, each next free slot bookable here (POST
    ``slot_id``: ordering.services.order_book, which also tells the centre). No log-in,
    so it shows nothing that names the patient or their health beyond the exam itself:
    no name, birth date, identifier, indication, red flags or facts, no prescriber, no
    distance from home."""
    order = (
        Order.objects.select_related("procedure", "consultation", "prescriber")
        .filter(booking_token=token, booking__isnull=True)
        .first()
    )
    expired = order is not None and order.signed_at < timezone.now() - timedelta(
        days=settings.ORDER_BOOKING_PAGE_DAYS
    )
    if order is None or expired:
        raise Http404
    cancelled = order.status == OrderStatus.CANCELLED
    error = ""
    if request.method == "POST" and not cancelled:
        try:
            slot_id = int(request.POST.get("slot_id", ""))
        except ValueError:
            slot_id = 0
        try:
            # The prescriber may open the page too ("book again"): the audit says who.
            actor = request.user if request.user.is_authenticated else None
            order_book(order=order, slot_id=slot_id, user=actor, request=request)
        except SlotTakenError:
            error = _("This slot has just been taken. Choose another one.")
        except ValidationError:
            error = _("This slot cannot be booked for this exam. Choose another one.")
        else:
            order.refresh_from_db()
            return _booking_page_response(request, _booked_context(order), 200)
    context: dict[str, Any] = {"cancelled": cancelled, "error": error}
    if not cancelled:
        rating = ConsultationRecord(order.consultation).rating(order.procedure.code)
        context.update(
            exam=localised(order.procedure, "label"),
            reference=order_reference(order),
            signed_on=order.signed_at,
            priority=rating.get("priority") if rating else None,
            centres=booking_centres(order, limit=8),
            book_here=True,
        )
    audit_record(
        action="order.booking_page.read",
        request=request,
        object_type="order",
        object_id=order.pk,
        patient_ref=order.consultation.patient_ref,
    )
    status = 410 if cancelled else (409 if error else 200)
    return _booking_page_response(request, context, status)


@require_http_methods(["GET", "POST"])
@role_required(Role.PRESCRIBER)
def prescriber_profile(request: HttpRequest) -> HttpResponse:
    """What the printed order says of the prescriber: name, RPPS, address, phone."""
    user: Any = request.user
    profile = PrescriberProfile.objects.filter(user=user).first() or PrescriberProfile(user=user)
    form = PrescriberProfileForm(
        request.POST or None,
        instance=profile,
        initial={"first_name": user.first_name, "last_name": user.last_name},
    )
    if request.method == "POST" and form.is_valid():
        form.save()
        user.first_name = form.cleaned_data["first_name"]
        user.last_name = form.cleaned_data["last_name"]
        user.save(update_fields=["first_name", "last_name"])
        messages.success(request, _("Your profile is saved: it heads your printed orders."))
        return redirect("ordering:profile")
    status = 400 if request.method == "POST" else 200
    return render(request, "ordering/profile.html", {"form": form}, status=status)
