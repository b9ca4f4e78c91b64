"""An EHR speaking standard codes finds our exam and our situation: a CCAM-coded
ServiceRequest through CDS Hooks and the REST catalogue, a CIM-10 reason verified in
guidelines/data/codes/cim10.yaml. Real PostgreSQL, Redis and Orthanc, the demo world
loaded from the rule pack (code files included), real signed JWTs."""

from __future__ import annotations

from typing import Any

from django.test import Client

from guidelines.codes import CCAM_SYSTEM
from guidelines.models import Indication, Procedure
from ordering.models import CdsCard, Consultation
from tests.ehr.conftest import Ehr
from tests.ehr.test_cds_hooks import hook_body, patient, prefetch
from tests.world import WITHOUT_PRIORS, FlowPacs

ICD10 = "http://hl7.org/fhir/sid/icd-10"


def ccam_order(code: str, reason: dict[str, Any], *, display: str = "") -> dict[str, Any]:
    coding: dict[str, Any] = {"system": CCAM_SYSTEM, "code": code}
    if display:
        coding["display"] = display
    return {
        "resourceType": "ServiceRequest",
        "id": "sr1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [coding]},
        "reasonCode": [reason],
    }


def rated(client: Client, ehr: Ehr, draft: dict[str, Any]) -> tuple[dict[str, Any], CdsCard]:
    body = hook_body("order-select", draft, pre=prefetch(patient()))
    response = ehr.hook(client, "imaging-order-select", body)
    assert response.status_code == 200, response.content
    [card] = response.json()["cards"]
    return card, CdsCard.objects.get(pk=card["uuid"])


def test_the_rule_pack_load_puts_the_verified_ccam_codes_on_the_exams(world: FlowPacs) -> None:
    assert Procedure.objects.get(code="dx-chest").ccam_codes == ["ZBQK002"]
    assert Procedure.objects.get(code="ct-head").ccam_codes == ["ACQK001"]
    # No code was verified for it: none is written.
    assert Procedure.objects.get(code="mr-internal-auditory-canals").ccam_codes == []


def test_a_ccam_coded_order_is_rated_as_our_exam(client: Client, ehr: Ehr, world: FlowPacs) -> None:
    card, stored = rated(client, ehr, ccam_order("QEQM001", {"text": "nodule du sein"}))
    assert stored.procedure_code == "us-breast"
    assert card["indicator"] == "info"
    assert "Échographie mammaire" in card["summary"] or "Breast ultrasound" in card["summary"]


def test_a_ccam_act_shared_by_several_exams_is_decided_by_the_orders_words(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    # PBQM002 (any joint ultrasound) stands for the shoulder, ankle and hip exams.
    assert {"us-shoulder", "us-ankle", "us-hip"} <= {
        p.code for p in Procedure.objects.all() if "PBQM002" in p.ccam_codes
    }
    draft = ccam_order("PBQM002", {"text": "épaule douloureuse"}, display="Échographie de l'épaule")
    _card, stored = rated(client, ehr, draft)
    assert stored.procedure_code == "us-shoulder"


def test_a_shared_ccam_act_without_words_is_said_on_the_card_not_guessed(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    card, stored = rated(client, ehr, ccam_order("PBQM002", {"text": "épaule douloureuse"}))
    assert stored.procedure_code == ""
    detail = card["detail"].replace("\\", "")  # Markdown escapes
    assert "PBQM002" in detail
    assert "us-shoulder" in detail


def test_a_ccam_code_no_exam_carries_is_said_on_the_card(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    # A real act (lacrymo-dacryo-cystography) that no exam of ours stands for.
    card, stored = rated(client, ehr, ccam_order("BBQH001", {"text": "nodule du sein"}))
    assert stored.procedure_code == ""
    assert "BBQH001" in card["detail"].replace("\\", "")


def test_a_cim10_reason_verified_in_the_code_file_finds_its_situation(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    # M25.56 comes from codes/cim10.yaml only: the pack file gives the situation none.
    assert "M25.56" in Indication.objects.get(code="knee-pain-non-traumatic").icd10_codes
    reason = {"coding": [{"system": ICD10, "code": "M25.56"}]}
    _card, stored = rated(client, ehr, ccam_order("NFQK001", reason))
    assert stored.procedure_code == "dx-knee"
    assert Consultation.objects.get().indication_code == "knee-pain-non-traumatic"


def test_the_rest_catalogue_lists_ccam_codes_and_finds_an_exam_by_one(
    client: Client, emr: dict[str, Any], world: FlowPacs
) -> None:
    response = client.get("/api/v1/procedures?ccam=zbqk002", **emr)
    assert response.status_code == 200, response.content
    body = response.json()
    assert [p["code"] for p in body["results"]] == ["dx-chest"]
    assert body["results"][0]["ccam_codes"] == ["ZBQK002"]
    several = client.get("/api/v1/procedures?ccam=PBQM002", **emr).json()
    assert {"us-shoulder", "us-ankle", "us-hip"} <= {p["code"] for p in several["results"]}
    assert client.get("/api/v1/procedures?ccam=BBQH001", **emr).json()["count"] == 0


def test_the_rest_catalogue_refuses_what_is_not_a_ccam_code(
    client: Client, emr: dict[str, Any], world: FlowPacs
) -> None:
    response = client.get("/api/v1/procedures?ccam=thorax", **emr)
    assert response.status_code == 400
    assert "ccam" in response.json()["error"]["fields"]


def test_the_rest_evaluation_reads_a_verified_cim10_code(
    client: Client, emr: dict[str, Any], world: FlowPacs
) -> None:
    body = {
        "patient": {
            "identifier_kind": "local",
            "identifier": WITHOUT_PRIORS,
            "birth_date": "1960-05-02",
            "sex": "M",
            "postcode": "35000",
        },
        "indication_code": "M25.55",
    }
    response = client.post("/api/v1/evaluate", body, content_type="application/json", **emr)
    assert response.status_code == 201, response.content
    assert Consultation.objects.get().indication_code == "hip-pain-adult"
