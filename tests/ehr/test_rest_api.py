"""The REST API v1 and the FHIR read endpoints, on the same decision service as the
pages and CDS Hooks; each API client sees only what it made."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from imaging_cds.roles import Role
from ordering.models import DecisionFeedback
from tests.actors import Actors, make_user
from tests.world import API_PATIENT, WITH_MAMMOGRAM, WITHOUT_PRIORS, FlowPacs

RATING = "https://imaging-cds.example/fhir/StructureDefinition/appropriateness-rating"
PATIENT = API_PATIENT


@pytest.fixture
def other(db: None) -> dict[str, Any]:
    user = make_user("other-emr", Role.API_CLIENT)
    return {"HTTP_AUTHORIZATION": f"Token {Token.objects.create(user=user).key}"}


def evaluate(client: Client, auth: dict[str, Any], **changes: Any) -> Any:
    body = {"patient": PATIENT, "indication_code": "breast-lump", **changes}
    return client.post("/api/v1/evaluate", body, content_type="application/json", **auth)


def test_evaluate_answers_ratings_priors_options_and_the_consultation_id(
    client: Client, emr: dict[str, Any], world: FlowPacs
) -> None:
    response = evaluate(client, emr)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "rated" and body["rule_set_version"] == 1
    assert body["ratings"][0]["procedure_code"] == "us-breast"
    assert body["priors"]["status"] == "ok"
    assert any(o["slot_id"] for o in body["options"])
    again = client.get(f"/api/v1/consultations/{body['consultation_id']}", **emr)
    assert again.status_code == 200 and again.json()["ratings"] == body["ratings"]


def test_evaluate_finds_the_prior_mammogram(
    client: Client, emr: dict[str, Any], world: FlowPacs
) -> None:
    patient = {**PATIENT, "identifier": WITH_MAMMOGRAM, "birth_date": "1960-03-01"}
    body = evaluate(
        client, emr, patient=patient, indication_code="breast-screening-average-risk"
    ).json()
    assert body["ratings"][0]["redundancy"]["days_ago"] == 420


def test_validation_errors_are_structured_with_their_fields(
    client: Client, emr: dict[str, Any], world: FlowPacs
) -> None:
    response = evaluate(client, emr, patient={**PATIENT, "birth_date": "2999-01-01"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and "birth_date" in error["fields"]["patient"]


def test_indication_search_resolves_codes_and_text(
    client: Client, emr: dict[str, Any], world: FlowPacs
) -> None:
    response = client.get("/api/v1/indications?q=M54.5", **emr)
    assert "low-back-pain-acute" in [r["code"] for r in response.json()]
    response = client.get("/api/v1/indications?q=mal de dos", **emr)
    assert response.json()[0]["code"].startswith("low-back-pain")


def test_an_api_client_holds_signs_reads_and_cancels_an_order_with_its_fhir_view(
    client: Client, emr: dict[str, Any], world: FlowPacs
) -> None:
    consultation = evaluate(client, emr).json()
    cid = consultation["consultation_id"]
    slots = client.get(f"/api/v1/slots?consultation={cid}", **emr).json()
    slot = slots[0]
    held = client.post(
        "/api/v1/holds",
        {"consultation": cid, "slot_id": slot["slot_id"], "procedure_code": slot["procedure_code"]},
        content_type="application/json",
        **emr,
    )
    assert held.status_code == 201, held.content
    signed = client.post(
        "/api/v1/orders",
        {
            "consultation": cid,
            "slot_id": slot["slot_id"],
            "procedure_code": slot["procedure_code"],
            "patient_identifier": WITHOUT_PRIORS,
            "patient_identifier_kind": "local",
            "patient_birth_date": "1979-05-02",
            "patient_sex": "F",
            "patient_birth_name": "ESSAI",
            "patient_given_names": "Camille",
        },
        content_type="application/json",
        **emr,
    )
    assert signed.status_code == 201, signed.content
    order = signed.json()
    assert order["status"] == "signed" and order["rating_category"] == "indicated"
    fhir = client.get(f"/fhir/ServiceRequest/{order['order_id']}", **emr)
    assert fhir.status_code == 200
    resource = fhir.json()
    rating = next(e for e in resource["extension"] if e["url"] == RATING)
    assert rating["valueCodeableConcept"]["coding"][0]["code"] == "appropriate"
    from fhir.resources.R4B.servicerequest import ServiceRequest

    ServiceRequest.model_validate(resource)
    cancelled = client.post(f"/api/v1/orders/{order['order_id']}/cancel", **emr)
    assert cancelled.json()["status"] == "cancelled"
    feedback = client.post(
        f"/api/v1/consultations/{cid}/feedback",
        {"outcome": "accepted", "accepted_procedure_code": slot["procedure_code"]},
        content_type="application/json",
        **emr,
    )
    assert feedback.status_code == 201
    assert DecisionFeedback.objects.get().consultation_id is not None


def test_another_client_gets_404_for_consultations_and_orders_it_did_not_make(
    client: Client, emr: dict[str, Any], other: dict[str, Any], world: FlowPacs
) -> None:
    cid = evaluate(client, emr).json()["consultation_id"]
    assert client.get(f"/api/v1/consultations/{cid}", **other).status_code == 404
    assert client.get(f"/api/v1/slots?consultation={cid}", **other).status_code == 404
    feedback = client.post(
        f"/api/v1/consultations/{cid}/feedback",
        {"outcome": "accepted"},
        content_type="application/json",
        **other,
    )
    assert feedback.status_code == 404
    response = client.get(f"/fhir/ServiceRequest/{cid}", **other)
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"
    assert (
        client.get("/api/v1/orders/00000000-0000-4000-8000-000000000000", **emr).status_code == 404
    )


def test_fhir_slot_search_answers_a_searchset_of_free_slots(
    client: Client, emr: dict[str, Any], world: FlowPacs
) -> None:
    response = client.get("/fhir/Slot?status=free&_count=5", **emr)
    assert response.status_code == 200
    bundle = response.json()
    assert bundle["type"] == "searchset" and 1 <= len(bundle["entry"]) <= 5
    from fhir.resources.R4B.bundle import Bundle

    Bundle.model_validate(bundle)
    bad = client.get("/fhir/Slot?start=ge2025-13-01", **emr)
    assert bad.status_code == 400 and bad.json()["resourceType"] == "OperationOutcome"


def test_the_api_rate_limit_answers_429(
    client: Client, emr: dict[str, Any], world: FlowPacs, settings: Any
) -> None:
    from rest_framework.throttling import UserRateThrottle

    original = UserRateThrottle.THROTTLE_RATES
    UserRateThrottle.THROTTLE_RATES = {"user": "3/min"}
    try:
        codes = [client.get("/api/v1/indications?q=sein", **emr).status_code for _ in range(5)]
    finally:
        UserRateThrottle.THROTTLE_RATES = original
    assert codes[:3] == [200, 200, 200] and codes[-1] == 429


def test_ping_answers_everyone_without_a_token_or_a_database(
    client: Client, actors: Actors, django_assert_num_queries: Any
) -> None:
    # Without a session (as the benchmark calls it) ping touches no database at all.
    with django_assert_num_queries(0):
        response = client.get("/api/v1/ping")
    assert response.status_code == 200 and response.json() == {"ok": True}
    # Signed-in people get the same answer (their session middleware reads its row).
    for user in (actors.alice, actors.erin, actors.carol, actors.emr, actors.mallory):
        client.logout()
        client.force_login(user)
        response = client.get("/api/v1/ping")
        assert response.status_code == 200 and response.json() == {"ok": True}
    assert "/api/v1/ping" in client.get("/api/v1/schema?format=json").json()["paths"]
