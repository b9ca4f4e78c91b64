"""The prescriber's pages: patient and indication → ranked options → hold → sign →
printable order. Thin callers of ordering.decision and ordering.services."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from imaging_cds.audit import audit_record
from imaging_cds.roles import Role, role_required
from ordering.chips import RISK_FIELDS, PageState, chips_read, risk_chip
from ordering.contract import InputError, clinical_validate, patient_reference
from ordering.decision import OptionFilters, Options, consultation_options, decision_make
from ordering.forms import FilterForm, PatientForm
from ordering.models import Consultation, Order, PilotChannel, RankingWeightSet
from ordering.order_views import order_page_context
from ordering.pilot.measures import measure_options_shown, ratings_shown
from ordering.record import ConsultationRecord
from ordering.selectors import (
    consultation_get,
    consultation_read,
    order_get,
    order_read,
    orders_of,
)
from ordering.services import (
    DecisionChangedError,
    DuplicateOrderError,
    PatientIdentity,
    order_cancel,
    order_sign,
    order_slot_hold,
)
from ordering.smart import PREFILL_KEY
from ordering.weights import WEIGHT_NAMES, weights_publish, weights_published
from scheduling.models import Centre
from scheduling.services.booking import SlotTakenError

# The patient's identity waits in the (server-side) session between the decision and
# the signature: the consultation itself keeps only a keyed hash of it.
SESSION_KEY = "ordering.pending_identities"
SLOTS_PER_EXAM = 4
# Said in the exam's card and in the summary of the other exams' notes alike.
PREGNANCY_UNANSWERED_NOTE = gettext_lazy(
    "Pregnancy not known: check it (yes or no) before this ionising exam of the abdomen "
    "or pelvis; the order cannot be signed until then."
)


def _indication_label(code: str) -> dict[str, str]:
    from guidelines.models import Indication

    indication = Indication.objects.filter(code=code).first()
    if indication is None:
        return {"fr": code, "en": code}
    return {"fr": indication.label_fr, "en": indication.label_en}


# A 500 report (AdminEmailHandler, technical 500 page) must not carry the identifier.
@sensitive_post_parameters("identifier", "birth_date", "birth_name", "given_names")
@sensitive_variables("form", "patient", "pending", "traits")
@require_http_methods(["GET", "POST"])
@role_required(Role.PRESCRIBER)
def order_new(request: HttpRequest) -> HttpResponse:
    form = PatientForm(request.POST or None)
    if request.method == "GET" and request.GET.get("from"):
        return _order_new_from(request, consultation_id=str(request.GET["from"]))
    if request.method == "GET" and request.GET.get("order"):
        return _order_new_from(request, order_id=str(request.GET["order"]))
    if request.method == "GET" and request.GET.get("launch") == "smart":
        return _order_new_from_ehr(request)
    indication_code = request.POST.get("indication_code", "")
    red_flags = frozenset(request.POST.getlist("red_flags"))
    clinical_errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            clinical = clinical_validate(indication_code=indication_code, red_flags=red_flags)
        except InputError as error:
            clinical_errors = error.errors
        if form.is_valid() and not clinical_errors:
            patient = form.to_patient_input()
            traits = form.to_identity_traits()
            outcome = decision_make(
                prescriber=request.user,
                patient=patient,
                clinical=clinical,
                filters=OptionFilters(),
                request=request,
                channel=PilotChannel.PAGE,
            )
            pending = request.session.get(SESSION_KEY, {})
            pending[str(outcome.consultation.pk)] = {
                "identifier": patient.identifier,
                "identifier_kind": patient.identifier_kind,
                "birth_date": patient.birth_date.isoformat(),
                "sex": patient.sex,
                # For the order only: the decision (the consultation) never sees them.
                "birth_name": traits.birth_name,
                "given_names": traits.given_names,
            }
            request.session[SESSION_KEY] = pending
            return redirect("ordering:consultation", consultation_id=outcome.consultation.pk)
    # Shown again as the prescriber left it: their choice and ticks, read or by hand.
    state = PageState.from_data(request.POST)
    context = {
        "form": form,
        "indication_query": state.text,
        "chips": chips_read(state),
        "indication_error": " ".join(clinical_errors.get("indication_code", [])),
        "red_flags_error": " ".join(clinical_errors.get("red_flags", [])),
        "recent_patients": _recent_patients(request.user) if request.method == "GET" else [],
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "ordering/new.html", context, status=status)


def _pending_identity(pending: dict[str, Any]) -> PatientIdentity:
    """The identity kept in the session between the decision and the signature."""
    return PatientIdentity(
        identifier=pending["identifier"],
        identifier_kind=pending["identifier_kind"],
        birth_date=date.fromisoformat(pending["birth_date"]),
        sex=pending["sex"],
        birth_name=pending.get("birth_name", ""),
        given_names=pending.get("given_names", ""),
    )


PREFILLED_FIELDS = (
    "postcode",
    "pregnancy",
    "weight_kg",
    "egfr",
    "mri_unsafe_implant",
    "contrast_allergy",
    "claustrophobia",
    "reduced_mobility",
)


def _key_or_404(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise Http404 from None


@sensitive_variables("pending", "initial", "identity")
def _order_new_from(
    request: HttpRequest, *, consultation_id: str = "", order_id: str = ""
) -> HttpResponse:
    """The form again for a patient of this prescriber, nobody typing the patient twice:
    from an earlier decision (``consultation_id``: with its indication and red flags,
    "change the red flags", or for a new indication, "another order for this patient")
    or from one of their signed orders (``order_id``: "recent patients")."""
    identity: PatientIdentity | None = None
    if order_id:
        order = order_read(request=request, order_id=_key_or_404(order_id))
        consultation = order.consultation
        identity = PatientIdentity(
            identifier=order.patient_identifier,
            identifier_kind=order.patient_identifier_kind,
            birth_date=order.patient_birth_date,
            sex=order.patient_sex,
            birth_name=order.patient_birth_name,
            given_names=order.patient_given_names,
        )
    else:
        consultation = consultation_get(
            user=request.user, consultation_id=_key_or_404(consultation_id)
        )
        pending = request.session.get(SESSION_KEY, {}).get(str(consultation.pk))
        if pending is not None:
            identity = _pending_identity(pending)
    record = ConsultationRecord(consultation)
    patient = record.patient
    initial: dict[str, Any] = {
        name: patient.get(name) for name in PREFILLED_FIELDS if patient.get(name) is not None
    }
    if patient.get("pregnancy") == "unknown" and patient.get("sex") != "F":
        initial.pop("pregnancy", None)
    if order_id:
        # Pregnancy changes between orders: asked again, never carried over.
        initial.pop("pregnancy", None)
    if identity is not None:
        initial.update(vars(identity))
    data = QueryDict(mutable=True)
    if consultation_id and request.GET.get("keep") == "indication":
        data["indication_code"] = record.indication_code
        data.setlist("red_flags", list(consultation.inputs.get("red_flags", [])))
    return _form_filled(request, initial, data)


@sensitive_variables("initial")
def _form_filled(request: HttpRequest, initial: dict[str, Any], data: QueryDict) -> HttpResponse:
    """The new-order form filled for the prescriber (an earlier decision, an order, an
    EHR launch): ``initial`` the patient's fields, ``data`` the indication and flags."""
    context = {
        "form": PatientForm(initial=initial),
        "indication_query": "",
        "chips": chips_read(PageState.from_data(data)),
        "indication_error": "",
        "red_flags_error": "",
    }
    return render(request, "ordering/new.html", context)


@sensitive_variables("prefill", "initial")
def _order_new_from_ehr(request: HttpRequest) -> HttpResponse:
    """The form filled from a SMART launch (ordering.smart_views): the EHR's patient and
    facts; launched from a card, also the card's indication and red flags, when the
    card's decision is this prescriber's to see and about the same patient."""
    prefill = request.session.get(PREFILL_KEY)
    if not isinstance(prefill, dict):
        messages.warning(request, _("The launch from the EHR has expired: open it again."))
        return redirect("ordering:new")
    initial: dict[str, Any] = {
        name: prefill[name]
        for name in (
            "identifier",
            "identifier_kind",
            "birth_date",
            "sex",
            "postcode",
            "weight_kg",
            "egfr",
            "birth_name",
            "given_names",
        )
        if prefill.get(name) not in (None, "")
    }
    # "Unknown" is not an answer: a woman of childbearing age is asked again.
    if prefill.get("pregnancy") in ("yes", "no"):
        initial["pregnancy"] = prefill["pregnancy"]
    data = QueryDict(mutable=True)
    card = _card_consultation(request, str(prefill.get("app_context") or ""))
    if card is not None and card.patient_ref == patient_reference(
        str(prefill["identifier_kind"]), str(prefill["identifier"])
    ):
        data["indication_code"] = card.indication_code
        data.setlist("red_flags", list(card.inputs.get("red_flags", [])))
    elif card is not None:
        messages.warning(
            request,
            _(
                "The card was about another patient than the one open in the EHR: "
                "its indication is not carried over."
            ),
        )
    return _form_filled(request, initial, data)


def _card_consultation(request: HttpRequest, app_context: str) -> Consultation | None:
    """The consultation a card's appContext names, if this prescriber may open it."""
    try:
        key = uuid.UUID(app_context)
    except ValueError:
        return None
    try:
        return consultation_read(request=request, consultation_id=key, via_card=True)
    except Http404:
        return None


# Recent patients offered on a new order: this prescriber's, this many days back.
RECENT_PATIENT_DAYS = 90
RECENT_PATIENTS = 8


def _recent_patients(user: Any) -> list[Order]:
    """The prescriber's latest signed order per patient, newest first."""
    since = timezone.now() - timedelta(days=RECENT_PATIENT_DAYS)
    seen: set[str] = set()
    recent: list[Order] = []
    for order in orders_of(user).filter(signed_at__gte=since).order_by("-signed_at")[:200]:
        ref = order.consultation.patient_ref
        if ref in seen:
            continue
        seen.add(ref)
        recent.append(order)
        if len(recent) == RECENT_PATIENTS:
            break
    return recent


@require_POST
@role_required(Role.PRESCRIBER)
def understanding(request: HttpRequest) -> HttpResponse:
    """What was read in the text as the prescriber types. POST, not GET: a long text
    does not fit in a URL (gunicorn's request line stops at 4 KiB)."""
    return render(
        request,
        "ordering/new.html#understanding",
        {"chips": chips_read(PageState.from_data(request.POST))},
    )


@require_http_methods(["GET", "POST"])
@role_required(Role.PRESCRIBER)
def red_flags(request: HttpRequest) -> HttpResponse:
    """The red flags of the chosen indication; with the text (POST), those it states
    are ticked and say so."""
    data = request.POST if request.method == "POST" else request.GET
    return render(
        request, "ordering/new.html#red-flags", {"chips": chips_read(PageState.from_data(data))}
    )


@require_GET
@role_required(Role.PRESCRIBER)
def risk_apply(request: HttpRequest) -> HttpResponse:
    """One click from a risk fact read in the text to the patient-form field it maps
    to: the field comes back set (still the prescriber's to change) and the chip says so."""
    code = request.GET.get("risk", "")
    if code not in RISK_FIELDS:
        raise Http404
    name, value = RISK_FIELDS[code]
    form = PatientForm(initial={name: True if value == "on" else value})
    return render(
        request,
        "ordering/new.html#risk-applied",
        {"field": form[name], "risk": risk_chip(code, in_form=True), "applied": True},
    )


def _grouped(options: Options) -> list[dict[str, Any]]:
    """Options grouped by exam, in rank order, each exam with its best slots."""
    groups: dict[str, dict[str, Any]] = {}
    for option in options.ranking.options:
        code = option.rated.procedure_code
        group = groups.setdefault(code, {"code": code, "options": [], "centres": set()})
        if len(group["options"]) >= SLOTS_PER_EXAM:
            continue
        centre = option.slot.centre_id if option.slot else None
        # One line per centre: its best slot (the first free one, as ranked).
        if centre is not None and centre in group["centres"]:
            continue
        group["centres"].add(centre)
        group["options"].append({"ranked": option, "slot": options.slot_for(option)})
        if option.slot is None:
            group["no_slot"] = options.no_slot(code)
    return list(groups.values())


def _other_exam_notes(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The contraindications, warnings, redundancy and pregnancy notes of the exams after
    the first, each said once with the exams it concerns. The first exam's notes sit in
    its card near the top; the later cards start below the fold of a laptop screen
    (1366×768) and a GP must not choose one of them without having read its notes."""
    from ordering.templatetags.ordering_tags import localised

    english = (get_language() or "fr").startswith("en")
    notes: dict[tuple[str, str], dict[str, Any]] = {}

    def add(kind: str, text: str, exam: str) -> None:
        note = notes.setdefault((kind, text), {"kind": kind, "text": text, "exams": []})
        if exam not in note["exams"]:
            note["exams"].append(exam)

    for group in groups[1:]:
        rating = group.get("rating")
        if rating is None:
            continue
        exam = localised(rating, "label")
        for finding in rating.get("contraindications", []):
            reason = localised(finding, "reason")
            add("contraindication", f"{_('Contraindication:')} {reason}", exam)
        if group.get("pregnancy_unanswered"):
            add("pregnancy", str(PREGNANCY_UNANSWERED_NOTE), exam)
        redundancy = rating.get("redundancy")
        if redundancy:
            text = str(redundancy["message_en" if english else "message_fr"])
            if redundancy.get("institution"):
                text += f" ({redundancy['institution']})"
            add("redundancy", text, exam)
        for finding in rating.get("warnings", []):
            add("warning", f"{_('Warning:')} {localised(finding, 'reason')}", exam)
    order = {"contraindication": 0, "pregnancy": 1, "redundancy": 2, "warning": 3}
    return sorted(notes.values(), key=lambda note: order[note["kind"]])


def _options_context(consultation: Consultation, filters_form: FilterForm) -> dict[str, Any]:
    """The page's options. In silent mode (the mode the decision was made in) the same
    exams and slots are offered, in the catalogue's alphabetical order, without the
    ratings, their reasons or why an option ranks where it does: the decision is
    recorded in full, only its showing is held back."""
    filters = filters_form.to_filters()
    options = consultation_options(consultation, filters)
    # Offer only the centres this search found (at national scale the full list would
    # be thousands of <option>s on every re-rank).
    found = {o.centre_id for o in (options.availability.options if options.availability else [])}
    if filters.centre_id is not None:
        found.add(filters.centre_id)
    filters_form.fields["centre"].queryset = Centre.objects.filter(pk__in=found).order_by("name")  # type: ignore[attr-defined]
    record = ConsultationRecord(consultation)
    groups = _grouped(options)
    for group in groups:
        rating = group["rating"] = record.rating(group["code"])
        group["pregnancy_unanswered"] = rating is not None and record.pregnancy_unanswered(
            str(rating.get("modality", "")), str(rating.get("body_region", ""))
        )
    shown = ratings_shown(consultation)
    if not shown:
        # The rank itself says what the rating was: an order that says nothing.
        english = (get_language() or "fr").startswith("en")
        groups.sort(
            key=lambda g: str((g["rating"] or {}).get("label_en" if english else "label_fr", ""))
        )
    return {
        "ratings_shown": shown,
        "consultation": consultation,
        "filters_form": filters_form,
        "groups": groups,
        "availability": options.availability,
        "weights_version": options.ranking.weights_version,
        "referral": options.referral,
        "notices": record.notices(),
        "other_notes": _other_exam_notes(groups),
    }


@require_GET
@role_required(Role.PRESCRIBER)
def consultation_page(request: HttpRequest, consultation_id: uuid.UUID) -> HttpResponse:
    consultation = consultation_read(
        request=request, consultation_id=consultation_id, via_card=True
    )
    filters_form = FilterForm(request.GET or None)
    context = _options_context(consultation, filters_form)
    measure_options_shown(consultation=consultation, card_shown=context["ratings_shown"])
    context["indication"] = _indication_label(consultation.indication_code)
    context["can_sign"] = str(consultation.pk) in request.session.get(SESSION_KEY, {})
    # When to come back: the indication's red flags the prescriber did not tick.
    present = set(consultation.inputs.get("red_flags", ()))
    context["come_back_if"] = [
        label
        for code, label in ConsultationRecord(consultation).red_flag_labels().items()
        if code not in present
    ]
    template = "ordering/consultation.html"
    if getattr(request, "htmx", False) and request.GET.get("partial") == "options":
        template += "#options"
    return render(request, template, context)


def _slot_and_exam(request: HttpRequest) -> tuple[int, str]:
    try:
        return int(request.POST.get("slot_id", "")), request.POST.get("procedure_code", "")[:80]
    except ValueError:
        raise Http404 from None


@require_POST
@role_required(Role.PRESCRIBER)
def slot_hold_view(request: HttpRequest, consultation_id: uuid.UUID) -> HttpResponse:
    consultation = consultation_get(user=request.user, consultation_id=consultation_id)
    slot_id, procedure_code = _slot_and_exam(request)
    context: dict[str, Any] = {"consultation": consultation, "procedure_code": procedure_code}
    try:
        hold = order_slot_hold(
            consultation=consultation,
            slot_id=slot_id,
            procedure_code=procedure_code,
            user=request.user,
        )
    except SlotTakenError as taken:
        context.update(taken=taken, alternatives=taken.alternatives)
        return render(request, "ordering/_confirm.html", context, status=409)
    except ValidationError as error:
        context["error"] = " ".join(error.messages)
        return render(request, "ordering/_confirm.html", context, status=400)
    context.update(hold=hold, slot_id=slot_id)
    context["slot"] = _slot_summary(slot_id)
    return render(request, "ordering/_confirm.html", context)


def _slot_summary(slot_id: int) -> Any:
    from scheduling.models import Slot

    return Slot.objects.select_related("equipment__centre").filter(pk=slot_id).first()


@sensitive_variables("pending", "identity")
@require_POST
@role_required(Role.PRESCRIBER)
def order_sign_view(request: HttpRequest, consultation_id: uuid.UUID) -> HttpResponse:
    consultation = consultation_get(user=request.user, consultation_id=consultation_id)
    slot_id: int | None
    if request.POST.get("booking") == "later":
        # Signed without a slot: the patient books later, from the order's booking page.
        slot_id, procedure_code = None, request.POST.get("procedure_code", "")[:80]
    else:
        slot_id, procedure_code = _slot_and_exam(request)
    pending = request.session.get(SESSION_KEY, {}).get(str(consultation.pk))
    context: dict[str, Any] = {"consultation": consultation, "procedure_code": procedure_code}
    if pending is None:
        context["error"] = _(
            "This decision was made in another session: start the order again to sign it."
        )
        return render(request, "ordering/_confirm.html", context, status=400)
    identity = _pending_identity(pending)
    try:
        order = order_sign(
            consultation=consultation,
            slot_id=slot_id,
            procedure_code=procedure_code,
            patient=identity,
            user=request.user,
            request=request,
            confirm_duplicate=request.POST.get("confirm_duplicate") == "1",
        )
    except SlotTakenError as taken:
        context.update(taken=taken, alternatives=taken.alternatives)
        return render(request, "ordering/_confirm.html", context, status=409)
    except DuplicateOrderError as duplicate:
        context.update(
            duplicate=duplicate, duplicate_message=" ".join(duplicate.messages), slot_id=slot_id
        )
        return render(request, "ordering/_confirm.html", context, status=409)
    except DecisionChangedError as changed:
        context.update(
            error=" ".join(changed.messages),
            changed=True,
            changed_alternatives=changed.alternatives,
        )
        return render(request, "ordering/_confirm.html", context, status=409)
    except ValidationError as error:
        context["error"] = " ".join(error.messages)
        return render(request, "ordering/_confirm.html", context, status=400)
    if slot_id is None:
        messages.success(
            request, _("The order is signed; the patient books with the details below.")
        )
    else:
        messages.success(request, _("The order is signed and the slot booked."))
    target = reverse("ordering:order", kwargs={"order_id": order.pk})
    if getattr(request, "htmx", False):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    return redirect(target)


@require_GET
@role_required(Role.PRESCRIBER)
def order_detail(request: HttpRequest, order_id: uuid.UUID) -> HttpResponse:
    order = order_read(request=request, order_id=order_id)
    return render(request, "ordering/order.html", order_page_context(request, order))


@require_GET
@role_required(Role.PRESCRIBER)
def order_list(request: HttpRequest) -> HttpResponse:
    orders = orders_of(request.user).order_by("-signed_at")[:200]
    return render(request, "ordering/orders.html", {"orders": orders})


@require_POST
@role_required(Role.PRESCRIBER)
def order_cancel_view(request: HttpRequest, order_id: uuid.UUID) -> HttpResponse:
    order = order_get(user=request.user, order_id=order_id)
    order_cancel(order=order, user=request.user, request=request)
    messages.success(request, _("The order is cancelled and the slot released."))
    return redirect("ordering:order", order_id=order.pk)


@require_http_methods(["GET", "POST"])
@role_required(Role.GUIDELINE_EDITOR)
def weights_page(request: HttpRequest) -> HttpResponse:
    """Ranking weights: the version in force, its history, and publishing a new one."""
    current = weights_published()
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {name: getattr(current, name) for name in WEIGHT_NAMES}
    reason = ""
    if request.method == "POST":
        values = {name: request.POST.get(name, "") for name in WEIGHT_NAMES}
        reason = request.POST.get("reason", "")
        try:
            row = weights_publish(values=values, user=request.user, reason=reason)
        except ValidationError as error:
            errors = error.message_dict
        else:
            audit_record(
                action="weights.publish",
                request=request,
                object_type="weights",
                object_id=row.version,
                reason=row.reason,
            )
            messages.success(request, _("Weights v%(v)s are now in force.") % {"v": row.version})
            return redirect("ordering:weights")
    return render(
        request,
        "ordering/weights.html",
        {
            "current": current,
            "fields": [(name, values[name], errors.get(name, [])) for name in WEIGHT_NAMES],
            "reason": reason,
            "reason_errors": errors.get("reason", []),
            "history": RankingWeightSet.objects.select_related("created_by")[:50],
        },
        status=400 if errors else 200,
    )
