"""A centre manager's view of the orders sent to the centre's RIS: each message's
delivery state and, for one refused or undelivered, a retry."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from imaging_cds.roles import Role, role_required
from ordering.outbox import RETRYABLE, outbound_message_retry
from ordering.selectors import outbound_message_get, outbound_messages_of_centre

# The page is about what is happening now; older messages stay in the database.
SHOWN_DAYS = 7


@require_GET
@role_required(Role.CENTRE_MANAGER)
def centre_messages(request: HttpRequest, centre_id: int) -> HttpResponse:
    centre, found = outbound_messages_of_centre(user=request.user, centre_id=centre_id)
    since = timezone.now() - timedelta(days=SHOWN_DAYS)
    context = {
        "centre": centre,
        "outbound": found.filter(created_at__gte=since).order_by("-id")[:200],
        "retryable": {state.value for state in RETRYABLE},
        "days": SHOWN_DAYS,
    }
    return render(request, "ordering/centre_messages.html", context)


@require_POST
@role_required(Role.CENTRE_MANAGER)
def message_retry(request: HttpRequest, centre_id: int, message_id: int) -> HttpResponse:
    message = outbound_message_get(user=request.user, centre_id=centre_id, message_id=message_id)
    if outbound_message_retry(message=message, user=request.user, request=request):
        messages.success(request, _("The message will be sent again."))
    else:
        messages.info(request, _("This message is not waiting for a retry."))
    return redirect("ordering:centre_messages", centre_id=centre_id)
