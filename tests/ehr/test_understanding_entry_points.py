"""Order text and standard codes through the REST API and CDS Hooks: both hand them to
the one input contract, which reads them with the understanding stage and says what
was understood (real PostgreSQL, Redis and Orthanc)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from ordering.models import Consultation
from tests.actors import Actors
from tests.ehr.conftest import Ehr
from tests.ehr.test_cds_hooks import hook_body, order, patient, prefetch
from tests.world import WITHOUT_PRIORS, FlowPacs

ICD10 = "http://hl7.org/fhir/sid/icd-10"
ICD10_CM = "http://hl7.org/fhir/sid/icd-10-cm"
PATIENT = {
    "identifier_kind": "local",
    "identifier": WITHOUT_PRIORS,
    "birth_date": "1979-05-02",
    "sex": "F",
    "postcode": "35000",
}


@pytest.fixture
def emr(actors: Actors) -> dict[str, Any]:
    return {"HTTP_AUTHORIZATION": f"Token {Token.objects.create(user=actors.emr).key}"}


def evaluate(client: Client, auth: dict[str, Any], **body: Any) -> Any:
    return client.post(
        "/api/v1/evaluate",
        {"patient": PATIENT, **body},
        content_type="application/json",
        **auth,
    )


def test_rest_reads_the_indication_from_the_order_text_and_says_what_it_understood(
    client: Client, emr: dict[str, Any], world: FlowPacs
) -> None:
    response = evaluate(
        client, emr, indication_text="colique néphrétique droite depuis hier, enceinte"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    understood = body["understanding"]
    assert understood["understood"] is True
    assert understood["indication_code"] == "renal-colic"
    assert "pregnancy" in understood["risks"]
    assert understood["facts"]["laterality"] == "right"
    consultation = Consultation.objects.get()
    assert consultation.indication_code == "renal-colic"
    # Pregnancy was not given: the text's "enceinte" is used, and the answer says so.
    assert consultation.inputs["patient"]["pregnancy"] == "yes"
    assert "enceinte" not in str(consultation.inputs), "the text itself is not kept"


def test_rest_refuses_a_text_that_contradicts_the_structured_facts(
    client: Client, emr: dict[str, Any], world: FlowPacs
) -> None:
    response = evaluate(
        client,
        emr,
        patient={**PATIENT, "pregnancy": "no"},
        indication_text="colique néphrétique chez une patiente enceinte",
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["patient"]["pregnancy"]
    assert not Consultation.objects.exists()


def test_rest_takes_a_cim10_code_and_a_text_decides_between_situations_sharing_it(
    client: Client, emr: dict[str, Any], world: FlowPacs
) -> None:
    renal = evaluate(client, emr, indication_code="N23")
    assert renal.status_code == 201 and Consultation.objects.get().indication_code == "renal-colic"
    shared = evaluate(client, emr, indication_code="M54.5")
    assert shared.status_code == 400
    message = shared.json()["error"]["fields"]["indication_code"][0]
    assert "low-back-pain-acute" in message and "low-back-pain-chronic" in message
    decided = evaluate(client, emr, indication_code="M54.5", indication_text="depuis 6 mois")
    assert decided.status_code == 201, decided.content
    assert decided.json()["indication_code"] == "low-back-pain-chronic"


def test_rest_answers_no_guideline_with_the_nearest_situations_for_a_text_it_cannot_place(
    client: Client, emr: dict[str, Any], world: FlowPacs
) -> None:
    response = evaluate(client, emr, indication_text="diarrhée chronique de l'adulte")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "no_guideline"
    assert body["understanding"]["understood"] is False
    assert body["understanding"]["suggestions"]


@pytest.mark.parametrize("text", ["", "🙂🙂", "x" * 10_000, "?!"])
def test_rest_never_fails_on_a_text_that_is_no_order(
    client: Client, emr: dict[str, Any], world: FlowPacs, text: str
) -> None:
    response = evaluate(client, emr, indication_text=text)
    if text.strip():
        assert response.status_code == 201, response.content
        assert response.json()["status"] == "no_guideline"
    else:  # neither a code nor words: the indication is missing
        assert response.status_code == 400
        assert response.json()["error"]["fields"]["indication_code"]


def test_cds_hooks_reads_the_reason_text_and_says_what_it_understood(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    draft = order("mr-lumbar-spine", {"text": "lombalgie aiguë depuis 10 jours"})
    response = ehr.hook(
        client, "imaging-order-select", hook_body("order-select", draft, pre=prefetch(patient()))
    )
    assert response.status_code == 200, response.content
    [card] = response.json()["cards"]
    assert Consultation.objects.get().indication_code == "low-back-pain-acute"
    assert "Compris dans la demande" in card["detail"]
    assert "10 jours" in card["detail"]


def test_cds_hooks_reads_an_icd10_cm_code_and_the_orders_note(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    coded = order("us-abdomen", {"coding": [{"system": ICD10_CM, "code": "N23"}]})
    response = ehr.hook(
        client, "imaging-order-select", hook_body("order-select", coded, pre=prefetch(patient()))
    )
    assert response.status_code == 200
    assert Consultation.objects.get().indication_code == "renal-colic"
    noted = order("us-abdomen", None, rid="sr2")
    noted["note"] = [{"text": "colique néphrétique gauche"}]
    response = ehr.hook(
        client, "imaging-order-select", hook_body("order-select", noted, pre=prefetch(patient()))
    )
    assert response.status_code == 200
    latest = Consultation.objects.order_by("-created_at").first()
    assert latest is not None and latest.indication_code == "renal-colic"


def test_cds_hooks_says_when_the_reason_names_no_situation_with_certainty(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    draft = order("us-abdomen", {"text": "diarrhée chronique de l'adulte"})
    response = ehr.hook(
        client, "imaging-order-select", hook_body("order-select", draft, pre=prefetch(patient()))
    )
    [card] = response.json()["cards"]
    assert "pas été reconnu" in card["detail"] and "plus proches" in card["detail"]
