"""Sending the signed order to the patient by e-mail, on request. The address is
used for this one message and stored nowhere: not on the order, not in the audit
record, not in a log line."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from imaging_cds.audit import audit_record
from ordering.booking_centres import booking_centres
from ordering.models import Order, OrderStatus
from ordering.order_pdf import order_pdf
from ordering.order_sheet import order_reference, order_sheet


@sensitive_variables("address")
def order_email_send(
    *, order: Order, address: str, booking_url: str | None, user: Any, request: Any = None
) -> None:
    """E-mail the order's PDF (and, unbooked, the booking page's link) to ``address``.
    Raises ValidationError for an unusable address or a cancelled order."""
    address = (address or "").strip()
    try:
        validate_email(address)
    except ValidationError:
        raise ValidationError(_("Enter a valid e-mail address."), code="email") from None
    if order.status == OrderStatus.CANCELLED:
        raise ValidationError(_("A cancelled order is not sent."), code="cancelled")
    sheet = order_sheet(order)
    unbooked = order.booking_id is None
    centres = booking_centres(order) if unbooked else []
    pdf = order_pdf(sheet, booking_url=booking_url if unbooked else None, centres=centres)
    lines = [
        _("Hello,"),
        "",
        _("Your doctor has prescribed this imaging exam: %(exam)s.") % {"exam": sheet.exam},
        _("Order reference: %(ref)s.") % {"ref": sheet.reference},
    ]
    if sheet.appointment:
        lines.append(
            _("Your appointment: %(when)s, %(where)s.")
            % {"when": sheet.appointment[0], "where": sheet.appointment[1]}
        )
    elif booking_url:
        lines.append(
            _("To book it, call one of the centres listed on this page: %(url)s")
            % {"url": booking_url}
        )
    lines += ["", _("The order is attached: bring it to your appointment."), ""]
    message = EmailMessage(
        # The subject names no exam and no person: mailboxes show subjects everywhere.
        subject=_("Your imaging order"),
        body="\n".join(lines),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[address],
    )
    message.attach(f"ordonnance-imagerie-{order_reference(order)}.pdf", pdf, "application/pdf")
    message.send(fail_silently=False)
    audit_record(
        action="order.email",
        request=request,
        user=user,
        object_type="order",
        object_id=order.pk,
        patient_ref=order.consultation.patient_ref,
    )
