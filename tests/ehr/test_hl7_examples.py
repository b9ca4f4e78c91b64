"""HL7's own FHIR R4 examples (fixtures/hl7/, see SOURCES.md) as contract fixtures:
they validate with fhir.resources' R4B models, an order-select request built from
them gets a valid 200 with cards, and our FHIR ServiceRequest output validates."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest
from django.test import Client
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.servicerequest import ServiceRequest
from rest_framework.authtoken.models import Token

from tests.actors import Actors
from tests.ehr.conftest import Ehr, fixture
from tests.world import WITHOUT_PRIORS, FlowPacs

ICD10 = "http://hl7.org/fhir/sid/icd-10"


def hl7(name: str) -> dict[str, Any]:
    return fixture(f"hl7/{name}")


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("patient-example.json", Patient),
        ("observation-example.json", Observation),
        ("servicerequest-example.json", ServiceRequest),
    ],
)
def test_the_hl7_examples_validate_as_r4(name: str, model: Any) -> None:
    resource = model.model_validate(hl7(name))
    assert resource.id == "example"


def order_select(draft: dict[str, Any]) -> dict[str, Any]:
    weight = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": hl7("observation-example.json")}],
    }
    return {
        "hook": "order-select",
        "hookInstance": str(uuid.uuid4()),
        "context": {
            "userId": "Practitioner/example",
            "patientId": "example",
            "selections": [f"ServiceRequest/{draft['id']}"],
            "draftOrders": {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": draft}],
            },
        },
        "prefetch": {"patient": hl7("patient-example.json"), "weight": weight},
    }


def assert_cards(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["cards"], body
    for card in body["cards"]:
        assert card["summary"] and len(card["summary"]) < 140
        assert card["indicator"] in {"info", "warning", "critical"}
        assert card["source"]["label"]
    return body["cards"]


def test_the_hl7_servicerequest_as_published_gets_cards(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    # As published: status completed, a SNOMED code we do not map, no reason.
    cards = assert_cards(
        ehr.hook(client, "imaging-order-select", order_select(hl7("servicerequest-example.json")))
    )
    # No reason: the card asks for one (the default language is French).
    assert any("motif" in c["summary"] or "reason" in c["summary"] for c in cards), cards


def test_the_hl7_servicerequest_with_a_reason_is_rated(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    # Adjusted only where order-select needs it: a draft, a reason (ICD-10 R51,
    # headache) and the code's text in our catalogue's words beside the SNOMED coding.
    draft = copy.deepcopy(hl7("servicerequest-example.json"))
    draft["status"] = "draft"
    draft["code"]["text"] = "CT head without contrast"
    draft["reasonCode"] = [{"coding": [{"system": ICD10, "code": "R51"}]}]
    response = ehr.hook(client, "imaging-order-select", order_select(draft))
    cards = assert_cards(response)
    assert "CT head" in cards[0]["summary"] or "Scanner" in cards[0]["summary"], cards[0]
    for action in response.json().get("systemActions", []):
        ServiceRequest.model_validate(action["resource"])


def test_our_fhir_servicerequest_validates_as_r4(
    client: Client, actors: Actors, world: FlowPacs
) -> None:
    emr: dict[str, Any] = {
        "HTTP_AUTHORIZATION": f"Token {Token.objects.create(user=actors.emr).key}"
    }
    patient = {
        "identifier": WITHOUT_PRIORS,
        "identifier_kind": "local",
        "birth_date": "1979-05-02",
        "sex": "F",
        "postcode": "35000",
        "pregnancy": "no",
    }
    made = client.post(
        "/api/v1/evaluate",
        {"patient": patient, "indication_code": "breast-lump"},
        content_type="application/json",
        **emr,
    )
    cid = made.json()["consultation_id"]
    slot = client.get(f"/api/v1/slots?consultation={cid}", **emr).json()[0]
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
    response = client.get(f"/fhir/ServiceRequest/{signed.json()['order_id']}", **emr)
    assert response.status_code == 200
    resource = ServiceRequest.model_validate(response.json())
    assert resource.id == signed.json()["order_id"]
