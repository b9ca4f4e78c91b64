"""The hospital admin's audit-trail pages: search by patient, user and date, and a
CSV export for the data protection officer. Both are POSTed forms, so a patient
identifier never appears in a URL, and both are themselves recorded in the trail."""

from __future__ import annotations

import io

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from imaging_cds.audit import (
    AUDIT_SEARCH_LIMIT,
    audit_events_csv,
    audit_events_search,
    audit_record,
)
from imaging_cds.forms import AuditSearchForm
from imaging_cds.roles import AUDIT_READERS, role_required

audit_readers_only = role_required(*AUDIT_READERS)


def _search(form: AuditSearchForm) -> tuple[str, object]:
    patient_ref = form.patient_ref()
    events = audit_events_search(
        patient_ref=patient_ref,
        username=form.cleaned_data["username"],
        date_from=form.cleaned_data["date_from"],
        date_to=form.cleaned_data["date_to"],
    )
    return patient_ref, events


def _filters(form: AuditSearchForm, patient_ref: str) -> dict[str, str]:
    """What was asked, as the trail records it: the pseudonym, never the identifier."""
    data = form.cleaned_data
    return {
        "patient_ref": patient_ref,
        "username": data["username"],
        "date_from": data["date_from"].isoformat() if data["date_from"] else "",
        "date_to": data["date_to"].isoformat() if data["date_to"] else "",
    }


@sensitive_post_parameters("identifier")
@never_cache
@require_http_methods(["GET", "POST"])
@audit_readers_only
def audit_search(request: HttpRequest) -> HttpResponse:
    form = AuditSearchForm(request.POST or None)
    context: dict[str, object] = {"form": form, "limit": AUDIT_SEARCH_LIMIT}
    if request.method == "POST":
        if not form.is_valid():
            return render(request, "imaging_cds/audit.html", context, status=400)
        patient_ref, events = _search(form)
        rows = list(events[:AUDIT_SEARCH_LIMIT])  # type: ignore[index]
        audit_record(
            action="audit.search",
            request=request,
            patient_ref=patient_ref,
            reason=form.cleaned_data["reason"],
            detail={"filters": _filters(form, patient_ref), "shown": len(rows)},
        )
        # The page shows the filters again, but not the identifier: it stays off the page.
        shown = {k: v for k, v in form.cleaned_data.items() if k != "identifier"}
        context.update(
            form=AuditSearchForm(initial=shown), events=rows, searched=True, patient_ref=patient_ref
        )
    return render(request, "imaging_cds/audit.html", context)


@sensitive_post_parameters("identifier")
@never_cache
@require_POST
@audit_readers_only
def audit_export(request: HttpRequest) -> HttpResponse:
    form = AuditSearchForm(request.POST)
    if not form.is_valid():
        context = {"form": form, "limit": AUDIT_SEARCH_LIMIT}
        return render(request, "imaging_cds/audit.html", context, status=400)
    patient_ref, events = _search(form)
    out = io.StringIO()
    count = audit_events_csv(events.iterator(), out)  # type: ignore[attr-defined]
    # Exporting is itself an access to patient data: recorded, with its reason.
    audit_record(
        action="audit.export",
        request=request,
        patient_ref=patient_ref,
        reason=form.cleaned_data["reason"],
        detail={"filters": _filters(form, patient_ref), "rows": count},
    )
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    return response
