"""The SMART on FHIR launch's two pages (ordering.smart): the EHR opens the first,
the EHR's authorization server sends the browser back to the second, which fills
the new-order form with the patient in the EHR's context."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET

from imaging_cds.audit import audit_record
from imaging_cds.roles import Role, role_required
from ordering.contract import patient_reference
from ordering.smart import (
    PREFILL_KEY,
    SmartLaunchError,
    smart_authorize_url,
    smart_launch_finish,
)


def _refused(request: HttpRequest, error: SmartLaunchError) -> HttpResponse:
    return render(request, "ordering/smart_error.html", {"error": str(error)}, status=400)


@require_GET
@role_required(Role.PRESCRIBER)
def smart_launch(request: HttpRequest) -> HttpResponse:
    redirect_uri = request.build_absolute_uri(reverse("ordering:smart_callback"))
    try:
        url = smart_authorize_url(
            iss=request.GET.get("iss", "")[:500],
            launch=request.GET.get("launch", "")[:500],
            redirect_uri=redirect_uri,
            session=request.session,
        )
    except SmartLaunchError as error:
        return _refused(request, error)
    return redirect(url)


@sensitive_variables("launched")
@require_GET
@role_required(Role.PRESCRIBER)
def smart_callback(request: HttpRequest) -> HttpResponse:
    try:
        launched = smart_launch_finish(
            state=request.GET.get("state", "")[:200],
            code=request.GET.get("code", "")[:2000],
            error=request.GET.get("error", "")[:200],
            session=request.session,
        )
    except SmartLaunchError as error:
        return _refused(request, error)
    patient = launched.patient
    if not patient.identifier or patient.birth_date is None:
        return _refused(
            request,
            SmartLaunchError(
                _("The EHR's Patient has no identifier or no birth date: type the patient.")
            ),
        )
    request.session[PREFILL_KEY] = {
        "identifier": patient.identifier,
        "identifier_kind": patient.identifier_kind,
        "birth_date": patient.birth_date.isoformat(),
        "sex": patient.sex,
        "postcode": patient.postcode,
        "pregnancy": patient.pregnancy,
        "weight_kg": patient.weight_kg,
        "egfr": patient.egfr,
        "birth_name": launched.birth_name,
        "given_names": launched.given_names,
        "app_context": launched.app_context,
    }
    audit_record(
        action="smart.launch",
        request=request,
        patient_ref=patient_reference(patient.identifier_kind, patient.identifier),
        detail={"from_card": bool(launched.app_context)},
    )
    messages.info(request, _("Patient filled in from the EHR: check the facts, then decide."))
    return redirect(f"{reverse('ordering:new')}?launch=smart")
