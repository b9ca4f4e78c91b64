"""CDS Hooks services end to end: real PostgreSQL, Redis and Orthanc, the published
example requests, real signed JWTs, and a real local FHIR server."""

from __future__ import annotations

import copy
import json
from typing import Any

from django.test import Client

from ordering.cds.cards import NO_CRITERIA_APPLY, pama_code_read
from ordering.models import CdsCard, Consultation, DecisionFeedback
from tests.actors import Actors
from tests.ehr.conftest import Ehr, FhirServer, fixture
from tests.world import WITH_MAMMOGRAM, WITHOUT_PRIORS, FlowPacs

BASE = "https://imaging-cds.example/fhir"
RATING = f"{BASE}/StructureDefinition/appropriateness-rating"
CONSULTATION = f"{BASE}/StructureDefinition/consultation-id"
RULE_SET = f"{BASE}/StructureDefinition/rule-set-version"
OUR_PROCEDURES = f"{BASE}/CodeSystem/procedure"


def patient(
    identifier: str | None = WITHOUT_PRIORS, *, born: str = "1979-05-02", gender: str = "female"
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": "p1",
        "birthDate": born,
        "gender": gender,
        "address": [{"postalCode": "35000", "city": "Rennes"}],
    }
    if identifier:
        resource["identifier"] = [{"system": "urn:oid:1.2.3.4.local", "value": identifier}]
    return resource


def observation(code: str, **value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "effectiveDateTime": "2025-01-01",
        **value,
    }


def searchset(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
    }


def prefetch(patient_resource: dict[str, Any], *observations: dict[str, Any]) -> dict[str, Any]:
    bundle = searchset(*observations)
    return {"patient": patient_resource, "weight": bundle, "egfr": bundle, "pregnancy": bundle}


def order(
    code: str | None, reason: dict[str, Any] | None, *, text: str = "", rid: str = "sr1"
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": rid,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "code": {"text": text}
        if code is None
        else {"coding": [{"system": OUR_PROCEDURES, "code": code}]},
    }
    if reason is not None:
        resource["reasonCode"] = [reason]
    return resource


def hook_body(hook: str, *orders: dict[str, Any], pre: dict[str, Any] | None = None) -> dict:
    body: dict[str, Any] = {
        "hook": hook,
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {
            "userId": "Practitioner/123",
            "patientId": "p1",
            "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": o} for o in orders]},
        },
    }
    if hook == "order-select":
        body["context"]["selections"] = [f"ServiceRequest/{o['id']}" for o in orders]
    if pre is not None:
        body["prefetch"] = pre
    return body


def breast_lump() -> dict[str, Any]:
    return {"text": "nodule du sein"}


def no_empty_values(value: Any, path: str = "$") -> None:
    """CDS Hooks: no null, "", [] or {} anywhere, except "cards": []."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "cards" and item == []:
                continue
            assert item not in (None, "", [], {}), f"{path}.{key} is empty"
            no_empty_values(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            assert item not in (None, "", [], {}), f"{path}[{index}] is empty"
            no_empty_values(item, f"{path}[{index}]")


def extension(resource: dict[str, Any], url: str) -> dict[str, Any]:
    return next(e for e in resource["extension"] if e["url"] == url)


# --- discovery ------------------------------------------------------------------------


def test_discovery_lists_an_order_select_and_an_order_sign_service_with_prefetch(
    client: Client, db: None
) -> None:
    response = client.get("/cds-services")
    assert response.status_code == 200
    services = {s["hook"]: s for s in response.json()["services"]}
    assert set(services) == {"order-select", "order-sign"}
    for service in services.values():
        assert service["prefetch"]["patient"] == "Patient/{{context.patientId}}"
        assert "29463-7" in service["prefetch"]["weight"]
        assert "62238-1" in service["prefetch"]["egfr"]
        assert "82810-3" in service["prefetch"]["pregnancy"]
    no_empty_values(response.json())


# --- the published examples -------------------------------------------------------------


def test_the_pama_guides_order_select_request_is_rated_and_written_back(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    body = fixture("pama-scenario-01-order-select.json")
    body["prefetch"] = prefetch(patient(gender="male"))
    response = ehr.hook(client, "imaging-order-select", body)
    assert response.status_code == 200, response.content
    answer = response.json()
    no_empty_values(answer)
    [card] = answer["cards"]
    assert len(card["summary"]) < 140
    assert card["indicator"] in {"warning", "critical"}
    assert "v1" in card["source"]["label"]
    assert card["overrideReasons"]
    consultation = Consultation.objects.get(pk=CdsCard.objects.get(pk=card["uuid"]).consultation_id)
    assert consultation.indication_code == "low-back-pain-acute"
    assert consultation.prescriber == ehr.client.user
    [link] = card["links"]
    assert link["type"] == "absolute"
    assert link["url"] == f"http://testserver/orders/c/{consultation.pk}/"
    # CDS Hooks 2.0: systemActions at the top level, an update of the ServiceRequest.
    assert "extension" not in answer
    [action] = answer["systemActions"]
    assert action["type"] == "update"
    resource = action["resource"]
    assert resource["id"] == "example-MRI-59879846"
    assert pama_code_read(extension(resource, RATING)) == "not-appropriate"
    assert extension(resource, CONSULTATION)["valueUri"] == f"urn:uuid:{consultation.pk}"
    assert extension(resource, RULE_SET)["valueString"] == "1"
    # The text "Lumbar spine CT" found the catalogue's CT lumbar spine: the CPT code did not.
    assert CdsCard.objects.get(pk=card["uuid"]).procedure_code == "ct-lumbar-spine"


def test_the_pama_guides_request_without_bundle_type_and_with_unknown_codes_is_no_criteria_apply(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    body = {"hook": "order-select", **fixture("pama-guidance-request.json")}
    assert "type" not in body["context"]["draftOrders"]
    # The guide's selections name another id than its order: we rate what is selected,
    # so this request is sent as an EHR would send it with its own order selected.
    body["context"]["selections"] = ["ServiceRequest/Example-MRI-Request"]
    body["prefetch"] = prefetch(patient())
    response = ehr.hook(client, "imaging-order-select", body)
    assert response.status_code == 200, response.content
    answer = response.json()
    no_empty_values(answer)
    [card] = answer["cards"]
    assert card["indicator"] == "info"
    [action] = answer["systemActions"]
    assert pama_code_read(extension(action["resource"], RATING)) == NO_CRITERIA_APPLY


def test_the_specs_order_select_and_order_sign_examples_without_imaging_get_no_cards(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    for service, name, hook in (
        ("imaging-order-select", "cds-hooks-order-select-r4.json", "order-select"),
        ("imaging-order-sign", "cds-hooks-order-sign-r4.json", "order-sign"),
    ):
        body = {"hook": hook, "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"}
        body.update(fixture(name))
        response = ehr.hook(client, service, body)
        assert response.status_code == 200, response.content
        assert response.json() == {"cards": []}


def test_the_rating_reader_reads_both_spellings_of_no_rule() -> None:
    published = fixture("pama-rating-response-no-criteria.json")
    ext = published["extension"]["systemActions"][0]["resource"]["extension"][0]
    assert pama_code_read(ext) == NO_CRITERIA_APPLY
    older = copy.deepcopy(ext)
    older["valueCodeableConcept"]["coding"][0]["code"] = "no-guidelines-apply"
    assert pama_code_read(older) == NO_CRITERIA_APPLY


# --- cards -----------------------------------------------------------------------------


def test_a_contraindicated_exam_gets_a_critical_card_suggesting_the_indicated_one(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    # The order's words say the patient has an MRI-unsafe pacemaker: MRI is contraindicated.
    reason = {"text": "troubles cognitifs récents chez un patient porteur d'un pacemaker"}
    draft = order("mr-brain", reason)
    body = hook_body("order-sign", draft, pre=prefetch(patient(born="1950-05-02")))
    response = ehr.hook(client, "imaging-order-sign", body)
    assert response.status_code == 200, response.content
    answer = response.json()
    no_empty_values(answer)
    [card] = answer["cards"]
    assert card["indicator"] == "critical"
    assert card["selectionBehavior"] == "at-most-one"
    [suggestion] = card["suggestions"]
    [action] = suggestion["actions"]
    assert action["type"] == "update"
    assert action["resource"]["id"] == "sr1"
    assert action["resource"]["code"]["coding"][0]["code"] == "ct-head"
    assert pama_code_read(extension(action["resource"], RATING)) == "appropriate"
    [system] = answer["systemActions"]
    assert pama_code_read(extension(system["resource"], RATING)) == "not-appropriate"
    consultation = CdsCard.objects.get(pk=card["uuid"]).consultation
    assert consultation.inputs["patient"]["mri_unsafe_implant"] is True


def test_an_ionising_exam_in_pregnancy_is_a_warning_suggesting_the_non_ionising_one(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    pregnant = observation(
        "82810-3",
        valueCodeableConcept={"coding": [{"system": "http://loinc.org", "code": "LA15173-0"}]},
    )
    draft = order("mg-breast", breast_lump())
    body = hook_body("order-sign", draft, pre=prefetch(patient(), pregnant))
    response = ehr.hook(client, "imaging-order-sign", body)
    assert response.status_code == 200, response.content
    answer = response.json()
    no_empty_values(answer)
    [card] = answer["cards"]
    # Not contraindicated: the rule's category stands, with the justification warning.
    assert card["indicator"] == "warning"
    assert "(8/9)" in card["summary"]
    assert "radiolog" in card["detail"]
    [suggestion] = card["suggestions"]
    [action] = suggestion["actions"]
    assert action["resource"]["code"]["coding"][0]["code"] == "us-breast"
    [system] = answer["systemActions"]
    assert pama_code_read(extension(system["resource"], RATING)) == "appropriate"
    consultation = CdsCard.objects.get(pk=card["uuid"]).consultation
    assert consultation.inputs["patient"]["pregnancy"] == "yes"


def test_the_card_shows_the_prior_exam_found_in_the_pacs_and_the_first_free_slots(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    draft = order("mg-breast", {"text": "dépistage du cancer du sein"})
    body = hook_body(
        "order-select", draft, pre=prefetch(patient(WITH_MAMMOGRAM, born="1960-03-01"))
    )
    response = ehr.hook(client, "imaging-order-select", body)
    assert response.status_code == 200, response.content
    [card] = response.json()["cards"]
    assert "MAMMOGRAPHIE BILATERALE" in card["detail"]
    assert "420" in card["detail"]
    assert card["indicator"] == "warning"


def test_an_indicated_exam_lists_its_first_free_slots_on_an_info_card(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    body = hook_body("order-select", order("us-breast", breast_lump()), pre=prefetch(patient()))
    response = ehr.hook(client, "imaging-order-select", body)
    [card] = response.json()["cards"]
    assert card["indicator"] == "info"
    assert "km)" in card["detail"], card["detail"]
    assert "suggestions" not in card


def test_a_patient_without_identifier_is_rated_with_priors_unavailable(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    body = hook_body("order-select", order("us-breast", breast_lump()), pre=prefetch(patient(None)))
    response = ehr.hook(client, "imaging-order-select", body)
    [card] = response.json()["cards"]
    consultation = CdsCard.objects.get(pk=card["uuid"]).consultation
    assert consultation.outputs["priors"]["status"] == "unavailable"
    assert "no identifier" in consultation.prior_status or "aucun identifiant" in (
        consultation.prior_status
    )


def test_an_order_without_a_reason_gets_a_card_asking_for_it(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    body = hook_body("order-select", order("us-breast", None), pre=prefetch(patient()))
    answer = ehr.hook(client, "imaging-order-select", body).json()
    [card] = answer["cards"]
    assert "systemActions" not in answer
    assert len(card["summary"]) < 140


def test_an_invalid_service_request_gets_a_warning_card_not_a_server_error(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    broken = order("us-breast", breast_lump())
    del broken["subject"]
    body = hook_body("order-select", broken, pre=prefetch(patient()))
    response = ehr.hook(client, "imaging-order-select", body)
    assert response.status_code == 200
    [card] = response.json()["cards"]
    assert card["indicator"] == "warning"
    assert "subject" in card["detail"]


# --- patient data: prefetch, FHIR server, or 412 -----------------------------------------


def test_without_prefetch_or_fhir_server_the_service_answers_412(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    body = hook_body("order-select", order("us-breast", breast_lump()))
    response = ehr.hook(client, "imaging-order-select", body)
    assert response.status_code == 412


def test_without_prefetch_the_service_reads_the_ehrs_fhir_server(
    client: Client, ehr: Ehr, world: FlowPacs, fhir_server: FhirServer
) -> None:
    fhir_server.resources["fhir/Patient/p1"] = patient()
    fhir_server.resources["fhir/Observation"] = searchset(
        observation("29463-7", valueQuantity={"value": 64, "unit": "kg", "code": "kg"}),
        observation("62238-1", valueQuantity={"value": 25, "unit": "mL/min/{1.73_m2}"}),
    )
    ehr.allow_fhir_server(fhir_server.url)
    body = hook_body("order-select", order("us-breast", breast_lump()))
    body["fhirServer"] = fhir_server.url
    body["fhirAuthorization"] = {
        "access_token": "ehr-access-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/Patient.read patient/Observation.read",
        "subject": "imaging-cds",
    }
    response = ehr.hook(client, "imaging-order-select", body)
    assert response.status_code == 200, response.content
    [card] = response.json()["cards"]
    consultation = CdsCard.objects.get(pk=card["uuid"]).consultation
    assert consultation.inputs["patient"]["weight_kg"] == 64
    assert consultation.inputs["patient"]["egfr"] == 25
    assert ("/fhir/Patient/p1", "Bearer ehr-access-token") in fhir_server.requests


def test_a_fhir_server_too_slow_for_the_budget_gives_412_in_time(
    client: Client, ehr: Ehr, world: FlowPacs, fhir_server: FhirServer, settings: Any
) -> None:
    settings.CDS_FHIR_TIMEOUT_SECONDS = 0.3
    fhir_server.delay_seconds = 2.0
    fhir_server.resources["fhir/Patient/p1"] = patient()
    ehr.allow_fhir_server(fhir_server.url)
    body = hook_body("order-select", order("us-breast", breast_lump()))
    body["fhirServer"] = fhir_server.url
    import time

    started = time.monotonic()
    response = ehr.hook(client, "imaging-order-select", body)
    assert response.status_code == 412
    assert time.monotonic() - started < 1.5


# --- feedback ------------------------------------------------------------------------------


def _rated_card(client: Client, ehr: Ehr) -> dict[str, Any]:
    body = hook_body("order-select", order("mg-breast", breast_lump()), pre=prefetch(patient()))
    # 24 years old: mammography is for particular cases, ultrasound is indicated.
    body["prefetch"]["patient"]["birthDate"] = "2001-01-01"
    [card] = ehr.hook(client, "imaging-order-select", body).json()["cards"]
    return card


def test_feedback_stores_an_override_with_its_reason_linked_to_the_consultation(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    card = _rated_card(client, ehr)
    reason = card["overrideReasons"][1]
    feedback = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "overridden",
                "overrideReason": {"reason": reason, "userComment": "asked by the surgeon"},
                "outcomeTimestamp": "2025-06-01T10:00:00Z",
            }
        ]
    }
    response = ehr.post(client, "/cds-services/imaging-order-select/feedback", feedback)
    assert response.status_code == 200, response.content
    stored = DecisionFeedback.objects.get()
    assert stored.outcome == "overridden"
    assert stored.override_reason_code == reason["code"]
    assert stored.override_comment == "asked by the surgeon"
    assert stored.consultation_id == CdsCard.objects.get(pk=card["uuid"]).consultation_id


def test_feedback_accepting_a_suggestion_records_the_exam_chosen(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    card = _rated_card(client, ehr)
    [suggestion] = card["suggestions"]
    feedback = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": suggestion["uuid"]}],
                "outcomeTimestamp": "2025-06-01T10:00:00Z",
            }
        ]
    }
    response = ehr.post(client, "/cds-services/imaging-order-select/feedback", feedback)
    assert response.status_code == 200
    assert DecisionFeedback.objects.get().accepted_procedure_code == "us-breast"


def test_feedback_on_an_unknown_card_is_404_and_stores_nothing(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    feedback = {
        "feedback": [
            {
                "card": "0b8a3c5e-0000-4000-8000-000000000000",
                "outcome": "accepted",
                "outcomeTimestamp": "2025-06-01T10:00:00Z",
            }
        ]
    }
    response = ehr.post(client, "/cds-services/imaging-order-select/feedback", feedback)
    assert response.status_code == 404
    assert not DecisionFeedback.objects.exists()


# --- the card's link, for a human ----------------------------------------------------------


def test_the_cards_link_opens_the_options_page_for_the_practitioner_of_the_hook(
    client: Client, ehr: Ehr, world: FlowPacs, actors: Actors
) -> None:
    ehr.client.practitioners.create(ehr_user_id="Practitioner/123", user=actors.bob)
    body = hook_body("order-select", order("us-breast", breast_lump()), pre=prefetch(patient()))
    [card] = ehr.hook(client, "imaging-order-select", body).json()["cards"]
    url = card["links"][0]["url"].removeprefix("http://testserver")
    client.force_login(actors.bob)
    page = client.get(url)
    assert page.status_code == 200
    assert "Échographie mammaire" in page.content.decode()
    # Read-only: the patient's identity stays in the EHR, so booking and signing do too.
    assert 'name="slot_id"' not in page.content.decode()
    client.force_login(actors.mallory)
    assert client.get(url).status_code in {302, 403, 404}


def test_a_pages_consultation_stays_private_to_its_prescriber(
    client: Client, world: FlowPacs, actors: Actors
) -> None:
    from tests.ordering.test_flow import consultation_of, start

    client.force_login(actors.alice)
    consultation = consultation_of(start(client, "breast-lump"))
    client.force_login(actors.bob)
    assert client.get(f"/orders/c/{consultation.pk}/").status_code == 404


def test_no_response_value_is_null_or_empty_in_a_multi_order_answer(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    body = hook_body(
        "order-sign",
        order("us-breast", breast_lump(), rid="a"),
        order(None, breast_lump(), text="Mammographie bilatérale", rid="b"),
        pre=prefetch(patient()),
    )
    answer = ehr.hook(client, "imaging-order-sign", body).json()
    no_empty_values(answer)
    assert len(answer["cards"]) == 2 and len(answer["systemActions"]) == 2
    assert json.dumps(answer).count("urn:uuid:") >= 2
