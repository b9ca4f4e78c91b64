"""CDS Hooks 2.0 contract points (issue 16), each checked with the specification's own
example bodies where it has one: real PostgreSQL, real signed JWTs, real local servers."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from django.test import Client
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.servicerequest import ServiceRequest

from ordering.cds.cards import (
    ARGONAUT_AUC_APPLIED,
    ARGONAUT_CONSULT_ID,
    ARGONAUT_RATING,
    NO_CRITERIA_APPLY,
    pama_code_read,
    rating_read,
)
from ordering.models import CdsCard, DecisionFeedback
from tests.ehr.conftest import Ehr, FhirServer, fixture
from tests.ehr.test_cds_hooks import (
    _rated_card,
    breast_lump,
    hook_body,
    order,
    patient,
    prefetch,
    searchset,
)
from tests.world import FlowPacs

FEEDBACK = "/cds-services/imaging-order-select/feedback"


# --- the service request -------------------------------------------------------------------


def test_a_service_request_without_hook_instance_is_refused_with_400(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    body = hook_body("order-select", order("us-breast", breast_lump()), pre=prefetch(patient()))
    for missing in (None, "", 42):
        sent = copy.deepcopy(body)
        if missing is None:
            del sent["hookInstance"]
        else:
            sent["hookInstance"] = missing
        response = ehr.hook(client, "imaging-order-select", sent)
        assert response.status_code == 400, (missing, response.content)
        assert "hookInstance" in response.json()["error"]["message"]


def test_prefetch_patient_null_is_read_from_the_fhir_server(
    client: Client, ehr: Ehr, world: FlowPacs, fhir_server: FhirServer
) -> None:
    # The spec: a key the client has no data for is sent with the value null.
    fhir_server.resources["fhir/Patient/p1"] = patient()
    fhir_server.resources["fhir/Observation"] = searchset()
    body = hook_body("order-select", order("us-breast", breast_lump()))
    body["prefetch"] = {"patient": None, "weight": None, "egfr": None, "pregnancy": None}
    body["fhirServer"] = fhir_server.url
    ehr.allow_fhir_server(fhir_server.url)
    response = ehr.hook(client, "imaging-order-select", body)
    assert response.status_code == 200, response.content
    assert response.json()["cards"]
    assert any(path == "/fhir/Patient/p1" for path, _ in fhir_server.requests)


def test_prefetch_patient_null_without_fhir_server_is_412_with_an_operation_outcome(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    body = hook_body("order-select", order("us-breast", breast_lump()))
    body["prefetch"] = {"patient": None}
    response = ehr.hook(client, "imaging-order-select", body)
    assert response.status_code == 412
    assert response["Content-Type"] == "application/json"
    outcome = OperationOutcome.model_validate(response.json())
    [issue] = outcome.issue
    assert issue.severity == "error"
    # The default language is French: "prefetch.patient est null (aucun Patient)…".
    assert "prefetch.patient" in str(issue.diagnostics) and "null" in str(issue.diagnostics)
    assert "fhirServer" in str(issue.diagnostics)


def test_a_fhir_server_without_the_patient_gives_412_with_an_operation_outcome(
    client: Client, ehr: Ehr, world: FlowPacs, fhir_server: FhirServer
) -> None:
    body = hook_body("order-select", order("us-breast", breast_lump()))
    body["fhirServer"] = fhir_server.url
    ehr.allow_fhir_server(fhir_server.url)
    response = ehr.hook(client, "imaging-order-select", body)
    assert response.status_code == 412
    outcome = OperationOutcome.model_validate(response.json())
    assert "fhirServer" in str(outcome.issue[0].diagnostics)
    assert any(path == "/fhir/Patient/p1" for path, _ in fhir_server.requests)


# --- feedback: the specification's three example bodies, with our card's uuids ------------

SPEC_ACCEPTED = {
    "feedback": [
        {
            "card": "4e0a3a1e-3283-4575-ab82-028d55fe2719",
            "outcome": "accepted",
            "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
            "outcomeTimestamp": "2020-12-11T00:00:00Z",
        }
    ]
}
SPEC_OVERRIDDEN = {
    "feedback": [
        {
            "card": "f6b95768-b1c8-40dc-8385-bf3504b82ffb",
            "outcome": "overridden",
            "outcomeTimestamp": "2020-12-11T00:00:00Z",
        }
    ]
}
SPEC_OVERRIDDEN_WITH_REASON = {
    "feedback": [
        {
            "card": "9368d37b-283f-44a0-93ea-547cebab93ed",
            "outcome": "overridden",
            "overrideReason": {
                "reason": {
                    "code": "d7ecf885",
                    "system": "https://example.com/cds-hooks/override-reason-system",
                },
                "userComment": "A comment entered by the clinician.",
            },
            "outcomeTimestamp": "2020-12-11T00:00:00Z",
        }
    ]
}


def _for(card: dict[str, Any], example: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(example)
    item = body["feedback"][0]
    item["card"] = card["uuid"]
    if "acceptedSuggestions" in item:
        item["acceptedSuggestions"] = [{"id": card["suggestions"][0]["uuid"]}]
    for key, value in changes.items():
        if value is None:
            item.pop(key, None)
        else:
            item[key] = value
    return body


def test_the_specs_three_feedback_examples_are_stored(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    card = _rated_card(client, ehr)
    for example in (SPEC_ACCEPTED, SPEC_OVERRIDDEN, SPEC_OVERRIDDEN_WITH_REASON):
        response = ehr.post(client, FEEDBACK, _for(card, example))
        assert response.status_code == 200, response.content
    stored = list(DecisionFeedback.objects.order_by("created_at"))
    assert [f.outcome for f in stored] == ["accepted", "overridden", "overridden"]
    assert stored[0].accepted_procedure_code == "us-breast"
    assert stored[2].override_reason_code == "d7ecf885"
    assert stored[2].outcome_at.isoformat() == "2020-12-11T00:00:00+00:00"


def test_an_override_with_only_a_user_comment_is_stored(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    # The spec's reason is CONDITIONAL: required only if the user picked one of the list.
    card = _rated_card(client, ehr)
    body = _for(card, SPEC_OVERRIDDEN, overrideReason={"userComment": "seen by the surgeon"})
    assert ehr.post(client, FEEDBACK, body).status_code == 200
    assert DecisionFeedback.objects.get().override_comment == "seen by the surgeon"


def test_feedback_breaking_the_specs_rules_is_refused_with_400_and_stores_nothing(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    card = _rated_card(client, ehr)
    refused = {
        "accepted without acceptedSuggestions": _for(card, SPEC_ACCEPTED, acceptedSuggestions=None),
        "accepted with an empty acceptedSuggestions": _for(
            card, SPEC_ACCEPTED, acceptedSuggestions=[]
        ),
        "accepted naming a suggestion of no card": _for(
            card,
            SPEC_ACCEPTED,
            acceptedSuggestions=[{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
        ),
        "no outcomeTimestamp": _for(card, SPEC_OVERRIDDEN, outcomeTimestamp=None),
        "an unparseable outcomeTimestamp": _for(
            card, SPEC_OVERRIDDEN, outcomeTimestamp="yesterday at noon"
        ),
        "an impossible outcomeTimestamp": _for(
            card, SPEC_OVERRIDDEN, outcomeTimestamp="2020-13-11T00:00:00Z"
        ),
        "an empty overrideReason": _for(card, SPEC_OVERRIDDEN, overrideReason={}),
        "an overrideReason with an empty reason": _for(
            card, SPEC_OVERRIDDEN, overrideReason={"reason": {}}
        ),
        "an overrideReason whose reason has no code": _for(
            card,
            SPEC_OVERRIDDEN,
            overrideReason={"reason": {"system": "https://example.com/x", "display": "Other"}},
        ),
        "an overrideReason on an accepted outcome": _for(
            card,
            SPEC_ACCEPTED,
            overrideReason=SPEC_OVERRIDDEN_WITH_REASON["feedback"][0]["overrideReason"],
        ),
    }
    for what, body in refused.items():
        response = ehr.post(client, FEEDBACK, body)
        assert response.status_code == 400, (what, response.content)
    assert not DecisionFeedback.objects.exists()


# --- PAMA: the Argonaut guide's extensions, written and read back ---------------------------


def _pama_answer(client: Client, ehr: Ehr) -> tuple[dict[str, Any], dict[str, Any]]:
    body = fixture("pama-scenario-01-order-select.json")
    body["prefetch"] = prefetch(patient(gender="male"))
    response = ehr.hook(client, "imaging-order-select", body)
    assert response.status_code == 200, response.content
    answer = response.json()
    return answer["cards"][0], answer["systemActions"][0]["resource"]


def _only(resource: dict[str, Any], url: str) -> dict[str, Any]:
    [found] = [e for e in resource["extension"] if e["url"] == url]
    return found


def test_the_rating_is_written_with_the_argonaut_pama_extensions_too(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    card, resource = _pama_answer(client, ehr)
    consultation = CdsCard.objects.get(pk=card["uuid"]).consultation_id
    assert pama_code_read(_only(resource, ARGONAUT_RATING)) == "not-appropriate"
    assert _only(resource, ARGONAUT_CONSULT_ID)["valueUri"] == f"urn:uuid:{consultation}"
    auc = [e for e in resource["extension"] if e["url"] == ARGONAUT_AUC_APPLIED]
    if "url" in card["source"]:
        assert auc == [{"url": ARGONAUT_AUC_APPLIED, "valueUri": card["source"]["url"]}]
    else:
        assert auc == []
    ServiceRequest.model_validate(resource)  # still a valid R4 ServiceRequest


def test_a_rating_sent_back_is_read_from_ours_or_the_argonaut_extensions_alone(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    card, resource = _pama_answer(client, ehr)
    consultation = CdsCard.objects.get(pk=card["uuid"]).consultation_id
    argonaut_only = copy.deepcopy(resource)
    argonaut_only["extension"] = [
        e for e in resource["extension"] if e["url"].startswith("http://fhir.org/argonaut/")
    ]
    ours_only = copy.deepcopy(resource)
    ours_only["extension"] = [
        e for e in resource["extension"] if not e["url"].startswith("http://fhir.org/argonaut/")
    ]
    for sent_back in (resource, argonaut_only, ours_only):
        read = rating_read(sent_back)
        assert read.pama_code == "not-appropriate"
        assert read.consultation_id == consultation


def test_the_guides_published_response_is_read_with_its_older_extension_urls() -> None:
    published = fixture("pama-rating-response-no-criteria.json")
    resource = published["extension"]["systemActions"][0]["resource"]
    read = rating_read(resource)
    assert read.pama_code == NO_CRITERIA_APPLY
    assert read.consultation_id == uuid.UUID("55f3b7fc-9955-420e-a460-ff284b2956e6")


def test_an_order_sent_back_with_a_rating_is_rated_again_without_duplicate_extensions(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    _, resource = _pama_answer(client, ehr)
    body = fixture("pama-scenario-01-order-select.json")
    body["prefetch"] = prefetch(patient(gender="male"))
    body["hookInstance"] = str(uuid.uuid4())
    entry = body["context"]["draftOrders"]["entry"][0]
    entry["resource"]["extension"] = resource["extension"]
    response = ehr.hook(client, "imaging-order-select", body)
    assert response.status_code == 200, response.content
    again = response.json()["systemActions"][0]["resource"]
    urls = [e["url"] for e in again["extension"]]
    assert len(urls) == len(set(urls))
