"""The centre manager's pages (htmx): their centres, machines, hours and feed state."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from imaging_cds.roles import Role, role_required
from scheduling.forms import CentreForm, EquipmentForm, OpeningHoursForm
from scheduling.models import Centre, Equipment, FeedState
from scheduling.services.centres import centre_hours_set, centre_update, equipment_save

PAGE = "scheduling/centre_detail.html"


def _get_centre_for_user(request: HttpRequest, centre_id: int) -> Centre:
    """The centre if this user manages it; 404 otherwise (the id of another manager's
    centre reveals nothing)."""
    return get_object_or_404(Centre, pk=centre_id, managers=request.user.pk)


def _get_equipment_for_user(request: HttpRequest, centre_id: int, equipment_id: int) -> Equipment:
    centre = _get_centre_for_user(request, centre_id)
    return get_object_or_404(Equipment, pk=equipment_id, centre=centre)


def _page(request: HttpRequest, centre: Centre, **forms: Any) -> dict[str, Any]:
    # Each form is bound to its own copy: an invalid form must not change what the
    # rest of the page shows of the saved centre.
    return {
        "centre": centre,
        "centre_form": forms.get("centre_form") or CentreForm(instance=_fresh(centre)),
        "hours_form": forms.get("hours_form") or OpeningHoursForm(centre=centre),
        "feed": FeedState.objects.filter(centre=centre).first(),
        "equipment": centre.equipment.all(),
    }


def _fresh(centre: Centre) -> Centre:
    return Centre.objects.get(pk=centre.pk)


def _answer(
    request: HttpRequest, centre: Centre, partial: str, saved: bool, **forms: Any
) -> HttpResponse:
    context = _page(request, centre, **forms) | {"saved": saved}
    if getattr(request, "htmx", False):
        return render(request, f"{PAGE}#{partial}", context)
    if saved:
        return redirect("scheduling:centre_detail", centre_id=centre.pk)
    return render(request, PAGE, context, status=200)


@require_GET
@role_required(Role.CENTRE_MANAGER)
def centre_list(request: HttpRequest) -> HttpResponse:
    centres = Centre.objects.filter(managers=request.user.pk).select_related("feed_state")
    rows = [(c, getattr(c, "feed_state", None)) for c in centres]
    return render(request, "scheduling/centre_list.html", {"rows": rows})


@require_GET
@role_required(Role.CENTRE_MANAGER)
def centre_detail(request: HttpRequest, centre_id: int) -> HttpResponse:
    centre = _get_centre_for_user(request, centre_id)
    return render(request, PAGE, _page(request, centre))


@require_POST
@role_required(Role.CENTRE_MANAGER)
def centre_edit(request: HttpRequest, centre_id: int) -> HttpResponse:
    centre = _get_centre_for_user(request, centre_id)
    form = CentreForm(request.POST, instance=_fresh(centre))
    saved = False
    if form.is_valid():
        fields = {name: form.cleaned_data[name] for name in CentreForm.Meta.fields}
        try:
            centre = centre_update(centre=_fresh(centre), fields=fields)
            saved = True
            messages.success(request, _("Centre saved."))
        except ValidationError as exc:
            form.add_error(None, exc)
    return _answer(request, centre, "centre_form", saved, centre_form=None if saved else form)


@require_POST
@role_required(Role.CENTRE_MANAGER)
def centre_hours(request: HttpRequest, centre_id: int) -> HttpResponse:
    centre = _get_centre_for_user(request, centre_id)
    form = OpeningHoursForm(request.POST, centre=centre)
    saved = False
    if form.is_valid():
        try:
            centre = centre_hours_set(centre=_fresh(centre), hours=form.hours())
            saved = True
            messages.success(request, _("Opening hours saved."))
        except ValidationError as exc:
            form.add_error(None, exc)
    return _answer(request, centre, "hours_form", saved, hours_form=None if saved else form)


@require_GET
@role_required(Role.CENTRE_MANAGER)
def centre_feed(request: HttpRequest, centre_id: int) -> HttpResponse:
    centre = _get_centre_for_user(request, centre_id)
    return render(request, f"{PAGE}#feed_state", _page(request, centre))


@require_http_methods(["GET", "POST"])
@role_required(Role.CENTRE_MANAGER)
def equipment_edit(
    request: HttpRequest, centre_id: int, equipment_id: int | None = None
) -> HttpResponse:
    if equipment_id is None:
        centre = _get_centre_for_user(request, centre_id)
        equipment = Equipment(centre=centre)
    else:
        equipment = _get_equipment_for_user(request, centre_id, equipment_id)
        centre = equipment.centre
    form = EquipmentForm(request.POST or None, instance=equipment)
    saved = False
    if request.method == "POST" and form.is_valid():
        try:
            equipment_save(
                equipment=form.save(commit=False),
                procedure_codes=form.cleaned_data["procedure_codes_text"],
            )
            saved = True
        except ValidationError as exc:
            form.add_error(None, exc)
    if saved:
        messages.success(request, _("Equipment saved."))
        if getattr(request, "htmx", False):
            response = HttpResponse(status=204)
            response["HX-Redirect"] = reverse("scheduling:centre_detail", args=[centre.pk])
            return response
        return redirect("scheduling:centre_detail", centre_id=centre.pk)
    template = "scheduling/equipment_form.html"
    if getattr(request, "htmx", False):
        template += "#form"
    return render(request, template, {"centre": centre, "form": form, "equipment": equipment})
