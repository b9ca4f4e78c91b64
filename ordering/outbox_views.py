"""A centre manager's view of the orders sent to the centre's RIS: each message's
delivery state and, for one refused or undelivered, a retry."""

from __future__ import annotations

from datetime import date, timedelta

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from imaging_cds.roles import Role, role_required
from ordering.outbox import RETRYABLE, outbound_message_retry
from ordering.selectors import outbound_message_get, outbound_messages_of_centre


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


@require_GET
@role_required(Role.CENTRE_MANAGER)
def centre_messages(request: HttpRequest, centre_id: int) -> HttpResponse:
    """The day's orders sent to the centre (today unless ``?day=YYYY-MM-DD``), each
    with its delivery state; the days before and after one click away."""
    centre, found = outbound_messages_of_centre(user=request.user, centre_id=centre_id)
    today = timezone.localdate()
    asked = request.GET.get("day", "")
    day = _day(asked) if asked else today
    if day is None:
        messages.warning(request, _("This is not a day (YYYY-MM-DD): today is shown."))
        day = today
    context = {
        "centre": centre,
        # created_at__date is read in the site's time zone: the centre's day.
        "outbound": found.filter(created_at__date=day).order_by("-id")[:500],
        "retryable": {state.value for state in RETRYABLE},
        "day": day,
        "today": today,
        "previous_day": (day - timedelta(days=1)).isoformat(),
        "next_day": (day + timedelta(days=1)).isoformat() if day < today else "",
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
