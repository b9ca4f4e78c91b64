"""The rule's priority and the "send to the emergency department" answer reach an EHR
through the REST API (payload and OpenAPI schema) and CDS Hooks (card text, extension,
a critical card), from the one place each is decided."""

from __future__ import annotations

from typing import Any

from django.test import Client

from ordering.models import CdsCard, DecisionFeedback
from tests.ehr.conftest import Ehr
from tests.ehr.test_cds_hooks import (
    extension,
    hook_body,
    no_empty_values,
    observation,
    order,
    prefetch,
)
from tests.ehr.test_cds_hooks import patient as fhir_patient
from tests.ordering.test_referral import withdraw_free_slots
from tests.world import API_PATIENT, FlowPacs

PRIORITY = "https://imaging-cds.example/fhir/StructureDefinition/recommended-priority"
PREGNANT_PATIENT = {**API_PATIENT, "birth_date": "1995-05-02", "pregnancy": "yes"}


def evaluate(client: Client, auth: dict[str, Any], **changes: Any) -> Any:
    body = {"patient": API_PATIENT, "indication_code": "breast-lump", **changes}
    return client.post("/api/v1/evaluate", body, content_type="application/json", **auth)


def pregnant_observation() -> dict[str, Any]:
    return observation(
        "82810-3",
        valueCodeableConcept={"coding": [{"system": "http://loinc.org", "code": "LA15173-0"}]},
    )


def test_each_rated_exam_carries_its_priority_code_and_words_in_both_languages(
    client: Client, emr: dict[str, Any], world: FlowPacs
) -> None:
    body = evaluate(client, emr).json()
    us = next(r for r in body["ratings"] if r["procedure_code"] == "us-breast")
    assert us["priority"] == "within_week" and us["intention"] == "first_line"
    assert us["priority_label_fr"] == "Dans la semaine"
    assert us["priority_label_en"] == "Within a week"
    again = client.get(f"/api/v1/consultations/{body['consultation_id']}", **emr).json()
    assert again["ratings"] == body["ratings"]
    assert "referral" not in body  # slots were offered


def test_the_openapi_schema_documents_the_priority_and_the_referral(
    client: Client, world: FlowPacs
) -> None:
    schema = client.get("/api/v1/schema?format=json").json()["components"]["schemas"]
    rating = next(s for name, s in schema.items() if "priority_label_fr" in s.get("properties", {}))
    assert {"priority", "priority_label_fr", "priority_label_en", "intention"} <= set(
        rating["required"]
    )
    consultation = next(
        s for s in schema.values() if "no_imaging_indicated" in s.get("properties", {})
    )
    assert "referral" in consultation["properties"]
    assert "referral" not in consultation.get("required", [])
    assert {"kind", "procedure_code", "message"} <= set(schema["Referral"]["properties"])


def test_the_rest_answer_sends_an_urgent_patient_with_nothing_bookable_to_the_emergency_department(
    client: Client, emr: dict[str, Any], world: FlowPacs
) -> None:
    withdraw_free_slots("CT", "NM")
    response = evaluate(
        client, emr, patient=PREGNANT_PATIENT, indication_code="pulmonary-embolism-suspected"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    ratings = {r["procedure_code"]: r for r in body["ratings"]}
    assert ratings["ct-pulmonary-angio"]["category"] == "indicated"
    assert ratings["ct-pulmonary-angio"]["priority"] == "urgent"
    assert not any(o["slot_id"] for o in body["options"])
    referral = body["referral"]
    assert referral["kind"] == "emergency_department"
    assert referral["procedure_code"] == "ct-pulmonary-angio"
    assert referral["message"]
    again = client.get(f"/api/v1/consultations/{body['consultation_id']}", **emr).json()
    assert again["referral"] == referral


def test_the_card_says_the_priority_and_writes_it_back_as_an_extension(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    draft = order("us-breast", {"text": "nodule du sein"})
    response = ehr.hook(
        client,
        "imaging-order-select",
        hook_body("order-select", draft, pre=prefetch(fhir_patient())),
    )
    assert response.status_code == 200, response.content
    answer = response.json()
    no_empty_values(answer)
    [card] = answer["cards"]
    assert "Dans la semaine" in card["detail"] or "Within a week" in card["detail"]
    [action] = answer["systemActions"]
    coding = extension(action["resource"], PRIORITY)["valueCoding"]
    assert coding["code"] == "within_week"
    assert coding["system"].endswith("/CodeSystem/priority") and coding["display"]


def test_cds_hooks_answers_a_critical_card_sending_the_patient_to_the_emergency_department(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    withdraw_free_slots("CT", "NM")
    draft = order("ct-pulmonary-angio", {"text": "suspicion d'embolie pulmonaire"})
    body = hook_body(
        "order-sign",
        draft,
        pre=prefetch(fhir_patient(born="1995-05-02"), pregnant_observation()),
    )
    response = ehr.hook(client, "imaging-order-sign", body)
    assert response.status_code == 200, response.content
    answer = response.json()
    no_empty_values(answer)
    referral, rated = answer["cards"]
    assert referral["indicator"] == "critical"
    assert "urgences" in referral["summary"] or "emergency department" in referral["summary"]
    assert len(referral["summary"]) < 140
    assert referral["links"][0]["url"] == rated["links"][0]["url"]
    # The order itself stands in pregnancy: indicated, with the justification warning.
    assert "(8/9)" in rated["summary"] and rated["indicator"] == "warning"
    # Overriding the referral is feedback on the same decision.
    feedback = {
        "feedback": [
            {
                "card": referral["uuid"],
                "outcome": "overridden",
                "overrideReason": {"reason": referral["overrideReasons"][0]},
                "outcomeTimestamp": "2026-06-01T10:00:00Z",
            }
        ]
    }
    answered = ehr.post(client, "/cds-services/imaging-order-sign/feedback", feedback)
    assert answered.status_code == 200, answered.content
    stored = DecisionFeedback.objects.get()
    assert stored.consultation_id == CdsCard.objects.get(pk=rated["uuid"]).consultation_id
