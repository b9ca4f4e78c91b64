"""THE permission matrix: every URL pattern × every actor → the expected answer.

One row per URL name (or one per URL prefix for third-party trees such as the
admin). tests/permissions/test_matrix.py walks the URL configuration and fails for
any pattern without a row here, so a new URL cannot ship without saying who may
use it. To add a row, copy one of the same kind:

    "ordering:thing": Row("GET", people(PRESCRIBER=200, OTHER_PRESCRIBER=404),
                          kwargs=lambda w: {"thing_id": w.order.pk}),

Answers: an HTTP status code, or LOGIN (a redirect to the log-in page). Objects
with ids belong to the first actor of their kind (see world.py), so the second
one (OTHER_PRESCRIBER, OTHER_MANAGER) shows what guessing someone else's id gets.
A POST row is sent once per actor inside a savepoint that is rolled back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.permissions.world import (
    ACTORS,
    ANONYMOUS,
    API_CLIENT,
    EDITOR,
    MANAGER,
    OTHER_MANAGER,
    OTHER_PRESCRIBER,
    PRESCRIBER,
    REVOKED_CLIENT,
    World,
)


@dataclass(frozen=True)
class Redirect:
    to: str

    def __str__(self) -> str:
        return f"redirect to {self.to}"


LOGIN = Redirect("/accounts/login/")
ADMIN_LOGIN = Redirect("/admin/login/")
Answer = int | Redirect
PEOPLE = (PRESCRIBER, OTHER_PRESCRIBER, EDITOR, MANAGER, OTHER_MANAGER)


def people(**allowed: Answer) -> dict[str, Answer]:
    """A page for signed-in people: anonymous callers and EHR tokens (which open no
    session) go to the log-in page; people without the role get 403."""
    answers: dict[str, Answer] = dict.fromkeys(ACTORS, 403)
    answers.update({ANONYMOUS: LOGIN, API_CLIENT: LOGIN, REVOKED_CLIENT: LOGIN})
    answers.update(allowed)
    return answers


def everyone(answer: Answer) -> dict[str, Answer]:
    return dict.fromkeys(ACTORS, answer)


def api(ok: Answer = 200) -> dict[str, Answer]:
    """The REST API: only api_client tokens; no credentials or a revoked token → 401."""
    answers: dict[str, Answer] = dict.fromkeys(ACTORS, 403)
    answers.update({ANONYMOUS: 401, REVOKED_CLIENT: 401, API_CLIENT: ok})
    return answers


def prescribers(own: Answer, others: Answer = 404) -> dict[str, Answer]:
    return people(**{PRESCRIBER: own, OTHER_PRESCRIBER: others})


def managers(own: Answer, others: Answer = 404) -> dict[str, Answer]:
    return people(**{MANAGER: own, OTHER_MANAGER: others})


def editors(answer: Answer) -> dict[str, Answer]:
    return people(**{EDITOR: answer})


Kwargs = Callable[[World], dict[str, Any]]
JSON = "application/json"


def _none(world: World) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Row:
    method: str
    expect: dict[str, Answer]
    kwargs: Kwargs = _none
    data: Kwargs = _none
    # The actor who may use the URL (the CSRF test posts as them); None: the first allowed.
    owner: str | None = None
    # The REST API reads JSON only; pages read forms.
    content_type: str | None = None
    notes: str = field(default="", compare=False)


def _version(w: World) -> dict[str, Any]:
    return {"version": w.rule_set.version}


def _rule(w: World) -> dict[str, Any]:
    return {"rule_id": w.rule.pk}


def _centre(w: World) -> dict[str, Any]:
    return {"centre_id": w.centre.pk}


def _consultation(w: World) -> dict[str, Any]:
    return {"consultation_id": w.consultation.pk}


def _order(w: World) -> dict[str, Any]:
    return {"order_id": w.order.pk}


def _api_consultation(w: World) -> dict[str, Any]:
    return {"consultation_id": w.api_consultation.pk}


def _api_order(w: World) -> dict[str, Any]:
    return {"order_id": w.api_order.pk}


def _booking_token(w: World) -> dict[str, Any]:
    """The token of an order of alice's signed without a booking (made once)."""
    from ordering.models import Consultation, Order

    unbooked = Order.objects.filter(
        consultation__prescriber=w.order.prescriber, booking__isnull=True
    ).first()
    if unbooked is None:
        consultation = Consultation.objects.create(
            prescriber=w.order.prescriber,
            patient_ref=w.consultation.patient_ref,
            indication_code=w.consultation.indication_code,
            inputs={"patient": {"age_years": 50, "sex": "F", "pregnancy": "no", "postcode": ""}},
            outputs={"ratings": []},
            rule_set_version=1,
        )
        unbooked = Order.objects.create(
            consultation=consultation,
            prescriber=w.order.prescriber,
            procedure=w.order.procedure,
            patient_identifier=w.order.patient_identifier,
            patient_identifier_kind=w.order.patient_identifier_kind,
            patient_birth_date=w.order.patient_birth_date,
            patient_sex=w.order.patient_sex,
        )
    return {"token": unbooked.booking_token}


def _slot_choice(w: World) -> dict[str, Any]:
    return {"slot_id": "1", "procedure_code": "mr-brain"}


ROWS: dict[str, Row] = {
    # --- everyone -----------------------------------------------------------------
    "home": Row("GET", people(**dict.fromkeys(PEOPLE, 200))),
    "healthz": Row("GET", everyone(200)),
    "login": Row("GET", everyone(200)),
    # Django's LogoutView takes POST only and sends everyone back to the log-in page.
    "logout": Row("POST", everyone(LOGIN)),
    "set_language": Row("POST", everyone(302), data=lambda w: {"language": "en"}),
    # --- guideline editors ----------------------------------------------------------
    "guidelines:rule_sets": Row("GET", editors(200)),
    "guidelines:import": Row("POST", editors(400)),
    "guidelines:indication_search": Row("GET", people(**dict.fromkeys(PEOPLE, 200))),
    "guidelines:rule_set": Row("GET", editors(200), kwargs=_version),
    "guidelines:clone": Row("POST", editors(302), kwargs=_version),
    "guidelines:diff": Row("GET", editors(200), kwargs=_version),
    "guidelines:golden": Row("GET", editors(200), kwargs=_version),
    # v1 is already in force: publishing it again is refused with a message.
    "guidelines:publish": Row("POST", editors(302), kwargs=_version),
    "guidelines:rollback": Row("POST", editors(302), kwargs=_version),
    "guidelines:export": Row(
        "GET", editors(200), kwargs=lambda w: {"version": w.rule_set.version, "fmt": "yaml"}
    ),
    "guidelines:rule": Row("GET", editors(200), kwargs=_rule),
    # The rule belongs to the published set: the edit page sends the editor back to it.
    "guidelines:rule_edit": Row("GET", editors(302), kwargs=_rule),
    # --- the audit trail (hospital admin, see imaging_cds.roles.AUDIT_READERS) -------
    "audit:search": Row("GET", editors(200)),
    "audit:export": Row("POST", editors(400)),
    # --- the pilot: guideline editors here; the medical director in tests/ordering/test_pilot
    "pilot:report": Row("GET", editors(200)),
    "pilot:report_csv": Row("GET", editors(200)),
    "pilot:report_pdf": Row("GET", editors(200)),
    "pilot:plot": Row("GET", editors(200), kwargs=lambda w: {"name": "shares"}),
    # No period given: the editor reaches the form's check (400).
    "pilot:modes": Row("POST", editors(400)),
    # --- centre managers: each only their own centres ----------------------------------
    "scheduling:centre_list": Row("GET", managers(200, 200)),
    "scheduling:centre_detail": Row("GET", managers(200), kwargs=_centre),
    "scheduling:centre_edit": Row("POST", managers(200), kwargs=_centre),
    "scheduling:centre_hours": Row("POST", managers(302), kwargs=_centre),
    "scheduling:centre_feed": Row("GET", managers(200), kwargs=_centre),
    "ordering:centre_messages": Row("GET", managers(200), kwargs=_centre),
    # The world's message to carol's centre failed: she may send it again.
    "ordering:message_retry": Row(
        "POST",
        managers(302),
        kwargs=lambda w: {"centre_id": w.centre.pk, "message_id": w.outbound_message.pk},
    ),
    "scheduling:equipment_add": Row("GET", managers(200), kwargs=_centre),
    "scheduling:equipment_edit": Row(
        "GET",
        managers(200),
        kwargs=lambda w: {"centre_id": w.centre.pk, "equipment_id": w.equipment.pk},
    ),
    # --- prescribers: each only their own consultations and orders ----------------------
    "ordering:orders": Row("GET", prescribers(200, 200)),
    "ordering:new": Row("GET", prescribers(200, 200)),
    "ordering:understanding": Row(
        "POST", prescribers(200, 200), data=lambda w: {"indication_query": "lombalgie aiguë"}
    ),
    "ordering:red_flags": Row("GET", prescribers(200, 200)),
    "ordering:risk_apply": Row("GET", prescribers(200, 200), data=lambda w: {"risk": "pregnancy"}),
    "ordering:consultation": Row("GET", prescribers(200), kwargs=_consultation),
    # The owner's empty choice is refused (400); someone else's consultation is not found.
    "ordering:hold": Row("POST", prescribers(400), kwargs=_consultation, data=_slot_choice),
    "ordering:sign": Row("POST", prescribers(400), kwargs=_consultation, data=_slot_choice),
    "ordering:order": Row("GET", prescribers(200), kwargs=_order),
    "ordering:cancel": Row("POST", prescribers(302), kwargs=_order),
    "ordering:weights": Row("GET", editors(200)),
    "ordering:pdf": Row("GET", prescribers(200), kwargs=_order),
    # No address given: the prescriber reaches the form's check (400).
    "ordering:email": Row("POST", prescribers(400), kwargs=_order),
    "ordering:profile": Row("GET", prescribers(200, 200)),
    # Without the EHR's launch parameters, or with no launch begun: refused, said.
    "ordering:smart_launch": Row("GET", prescribers(400, 400)),
    "ordering:smart_callback": Row("GET", prescribers(400, 400)),
    # --- the patient's booking page: public, the unguessable token is the key -----------
    "booking:page": Row("GET", everyone(200), kwargs=_booking_token),
    # --- REST API (token) -----------------------------------------------------------------
    "api-procedures": Row("GET", api()),
    # A bare endpoint for the latency baseline: no auth, no database, answers everyone.
    "api-ping": Row("GET", everyone(200)),
    "api-indications": Row("GET", api(), data=lambda w: {"q": "headache"}),
    # Empty bodies: the API client reaches validation (400); nobody else gets that far.
    "api-evaluate": Row("POST", api(400), content_type=JSON),
    "api-consultation": Row("GET", api(200), kwargs=_api_consultation),
    "api-feedback": Row("POST", api(400), kwargs=_api_consultation, content_type=JSON),
    "api-slots": Row("GET", api(200), data=lambda w: {"consultation": w.api_consultation.pk}),
    "api-holds": Row("POST", api(400), content_type=JSON),
    "api-orders": Row("POST", api(400), content_type=JSON),
    "api-order": Row("GET", api(200), kwargs=_api_order),
    "api-order-cancel": Row("POST", api(200), kwargs=_api_order, content_type=JSON),
    # Anything else under /api/v1/ is the API's own JSON 404, whoever asks.
    "api-not-found": Row("GET", everyone(404), kwargs=lambda w: {"rest": "no-such-thing"}),
    # CDS Hooks: discovery is open; the services need the EHR's signed JWT, which no
    # session or DRF token is (tests/ehr covers the JWT cases one by one).
    "cds-discovery": Row("GET", everyone(200)),
    "cds-service": Row(
        "POST", everyone(401), kwargs=lambda w: {"service_id": "imaging-order-select"}
    ),
    "cds-feedback": Row(
        "POST", everyone(401), kwargs=lambda w: {"service_id": "imaging-order-select"}
    ),
    "fhir-sr": Row("GET", api(200), kwargs=lambda w: {"order_id": str(w.api_order.pk)}),
    "fhir-slot": Row("GET", api(200), data=lambda w: {"status": "free"}),
    # The schema and its docs page describe the API, hold no data, and are public.
    "api-schema": Row("GET", {**everyone(200), REVOKED_CLIENT: 401}),
    "api-docs": Row("GET", {**everyone(200), REVOKED_CLIENT: 401}),
    # --- third-party trees: one row per prefix ----------------------------------------------
    # Nobody in the matrix is staff: the admin sends everyone to its own log-in page.
    "prefix:admin/": Row("GET", everyone(ADMIN_LOGIN)),
}


def row_for(name: str, route: str) -> tuple[str, Row] | None:
    """The row that covers a URL pattern: its name's, else the longest matching prefix."""
    if name and name in ROWS:
        return name, ROWS[name]
    prefixes = [k for k in ROWS if k.startswith("prefix:") and route.startswith(k[7:])]
    if prefixes:
        key = max(prefixes, key=len)
        return key, ROWS[key]
    return None
