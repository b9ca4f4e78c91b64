"""One input contract: each fact the page, the REST API and CDS Hooks refuse, they
refuse with the same message, and none builds a rating on it (real PostgreSQL,
Redis and Orthanc)."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client
from django.utils import translation

from ordering.cds.cards import md_escape
from ordering.contract import (
    InputError,
    clinical_validate,
    patient_validate,
    postcode_notice,
    postcode_problem,
)
from ordering.models import Consultation
from tests.actors import Actors
from tests.ehr.conftest import Ehr
from tests.ehr.test_cds_hooks import hook_body, observation, order, patient, prefetch
from tests.ordering.test_flow import PATIENT as FLOW_PATIENT
from tests.patients import TEST_INS
from tests.world import WITHOUT_PRIORS, FlowPacs

INS_SYSTEM = "urn:oid:1.2.250.1.213.1.4.8"
RED_FLAGS = "https://imaging-cds.example/fhir/CodeSystem/red-flag"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
GOOD = {
    "identifier_kind": "local",
    "identifier": WITHOUT_PRIORS,
    "birth_date": "1979-05-02",
    "sex": "F",
    "postcode": "35000",
    "pregnancy": "no",
}


@dataclass
class Case:
    """A bad fact as each entry point receives it, and the field the contract names."""

    name: str
    fact: str
    facts: dict[str, Any]  # contract values (page and REST send them as they are)
    hook_patient: dict[str, Any] = field(default_factory=dict)  # Patient resource changes
    hook_observations: tuple[dict[str, Any], ...] = ()
    indication: str = "breast-lump"
    red_flags: tuple[str, ...] = ()


CASES = [
    Case(
        "INS with a wrong key",
        "identifier",
        {"identifier_kind": "ins", "identifier": TEST_INS[:-2] + "00"},
        hook_patient={"identifier": [{"system": INS_SYSTEM, "value": TEST_INS[:-2] + "00"}]},
    ),
    Case(
        "birth date in the future",
        "birth_date",
        {"birth_date": "2099-01-01"},
        hook_patient={"birthDate": "2099-01-01"},
    ),
    Case(
        "age 220",
        "birth_date",
        {"birth_date": "1806-01-01"},
        hook_patient={"birthDate": "1806-01-01"},
    ),
    Case(
        "weight of 400 kg",
        "weight_kg",
        {"weight_kg": 400},
        hook_observations=(
            observation("29463-7", valueQuantity={"value": 400, "unit": "kg", "code": "kg"}),
        ),
    ),
    Case(
        "eGFR of -5",
        "egfr",
        {"egfr": -5},
        hook_observations=(observation("62238-1", valueQuantity={"value": -5}),),
    ),
    Case(
        "male and pregnant",
        "pregnancy",
        {"sex": "M", "pregnancy": "yes"},
        hook_patient={"gender": "male"},
        hook_observations=(
            observation(
                "82810-3",
                valueCodeableConcept={
                    "coding": [{"system": "http://loinc.org", "code": "LA15173-0"}]
                },
            ),
        ),
    ),
    Case(
        "red flag unknown to the indication",
        "red_flags",
        {},
        indication="low-back-pain-acute",
        red_flags=("fever",),
    ),
]


def contract_message(case: Case) -> str:
    """What the contract itself says of this fact, in French (every entry point's default)."""
    with translation.override("fr"):
        try:
            patient_validate(**{**GOOD, **case.facts, "birth_date": _date(case)})
            clinical_validate(indication_code=case.indication, red_flags=case.red_flags)
        except InputError as error:
            return error.errors[case.fact][0]
    raise AssertionError(f"the contract accepts {case.name}")


def _date(case: Case) -> Any:
    from datetime import date

    return date.fromisoformat({**GOOD, **case.facts}["birth_date"])


@pytest.fixture
def alice(client: Client, actors: Actors) -> Client:
    client.force_login(actors.alice)
    return client


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_page_refuses_the_fact_next_to_its_field(
    alice: Client, world: FlowPacs, case: Case
) -> None:
    data = {
        **GOOD,
        **{k: str(v) for k, v in case.facts.items()},
        "indication_code": case.indication,
        "red_flags": list(case.red_flags),
    }
    response = alice.post("/orders/new/", data)
    assert response.status_code == 400
    page = html.unescape(response.content.decode())
    assert contract_message(case) in page
    assert not Consultation.objects.exists()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_rest_api_refuses_the_fact_with_a_400_naming_the_field(
    client: Client, emr: dict[str, Any], world: FlowPacs, case: Case
) -> None:
    body = {
        "patient": {**GOOD, **case.facts},
        "indication_code": case.indication,
        "red_flags": list(case.red_flags),
    }
    response = client.post("/api/v1/evaluate", body, content_type="application/json", **emr)
    assert response.status_code == 400, response.content
    fields = response.json()["error"]["fields"]
    where = fields if case.fact == "red_flags" else fields["patient"]
    assert where[case.fact] == [contract_message(case)]
    assert not Consultation.objects.exists()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_cds_hooks_answers_a_card_saying_what_is_wrong_and_no_rating(
    client: Client, ehr: Ehr, world: FlowPacs, case: Case
) -> None:
    resource = {**patient(), **case.hook_patient}
    reason: dict[str, Any] = {"text": "nodule du sein"}
    if case.indication == "low-back-pain-acute":
        # M54.5 is both acute and chronic low back pain: the text decides.
        reason = {
            "text": "lombalgie aiguë",
            "coding": [{"system": ICD10, "code": "M54.5"}]
            + [{"system": RED_FLAGS, "code": code} for code in case.red_flags],
        }
    body = hook_body(
        "order-select", order("us-breast", reason), pre=prefetch(resource, *case.hook_observations)
    )
    response = ehr.hook(client, "imaging-order-select", body)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert "systemActions" not in answer, "a rating was built on a fact that cannot be used"
    assert len(answer["cards"]) == 1
    card = answer["cards"][0]
    assert card["indicator"] == "warning"
    # The card's Markdown quotes the message inert (ordering.cds.cards.md_escape).
    assert md_escape(contract_message(case)) in card["detail"]
    assert not Consultation.objects.exists()


def test_an_unknown_red_flag_lists_the_indications_valid_codes(
    client: Client, emr: dict[str, Any], world: FlowPacs
) -> None:
    body = {"patient": GOOD, "indication_code": "low-back-pain-acute", "red_flags": ["fever"]}
    response = client.post("/api/v1/evaluate", body, content_type="application/json", **emr)
    assert response.status_code == 400
    message = response.json()["error"]["fields"]["red_flags"][0]
    assert "fever" in message
    assert "fever-or-general-decline" in message and "cauda-equina-or-extensive-neuro" in message


def test_a_known_red_flag_is_rated_and_recorded_with_those_stated_absent(
    client: Client, emr: dict[str, Any], world: FlowPacs
) -> None:
    body = {
        "patient": GOOD,
        "indication_code": "low-back-pain-acute",
        "red_flags": ["fever-or-general-decline"],
        "red_flags_absent": ["major-trauma"],
    }
    response = client.post("/api/v1/evaluate", body, content_type="application/json", **emr)
    assert response.status_code == 201, response.content
    consultation = Consultation.objects.get()
    assert consultation.inputs["red_flags"] == ["fever-or-general-decline"]
    assert consultation.inputs["red_flags_absent"] == ["major-trauma"]
    without = client.post(
        "/api/v1/evaluate",
        {**body, "red_flags": [], "red_flags_absent": []},
        content_type="application/json",
        **emr,
    ).json()
    # The red flag changes the answer: without it, acute low back pain needs no imaging.
    assert without["no_imaging_indicated"] is True
    assert response.json()["no_imaging_indicated"] is False


def test_a_red_flag_cannot_be_both_present_and_absent(
    client: Client, emr: dict[str, Any], world: FlowPacs
) -> None:
    body = {
        "patient": GOOD,
        "indication_code": "low-back-pain-acute",
        "red_flags": ["major-trauma"],
        "red_flags_absent": ["major-trauma"],
    }
    response = client.post("/api/v1/evaluate", body, content_type="application/json", **emr)
    assert response.status_code == 400
    assert "major-trauma" in response.json()["error"]["fields"]["red_flags_absent"][0]


def test_an_unknown_indication_code_is_a_400_naming_the_field(
    client: Client, emr: dict[str, Any], world: FlowPacs
) -> None:
    body = {"patient": GOOD, "indication_code": "no-such-indication"}
    response = client.post("/api/v1/evaluate", body, content_type="application/json", **emr)
    assert response.status_code == 400
    assert "no-such-indication" in response.json()["error"]["fields"]["indication_code"][0]


def test_cds_hooks_reads_red_flags_from_the_reason_and_rates_with_them(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    reason = {
        "text": "lombalgie aiguë",
        "coding": [
            {"system": ICD10, "code": "M54.5"},
            {"system": RED_FLAGS, "code": "fever-or-general-decline"},
        ],
    }
    body = hook_body("order-select", order("mr-lumbar-spine", reason), pre=prefetch(patient()))
    response = ehr.hook(client, "imaging-order-select", body)
    assert response.status_code == 200, response.content
    assert response.json()["systemActions"]
    consultation = Consultation.objects.get()
    assert consultation.indication_code == "low-back-pain-acute"
    assert consultation.inputs["red_flags"] == ["fever-or-general-decline"]


def test_a_postcode_that_cannot_place_the_patient_is_said_on_a_card_and_the_order_rated(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    resource = {**patient(), "address": [{"postalCode": "3999", "city": "PleasantVille"}]}
    body = hook_body(
        "order-select", order("us-breast", {"text": "nodule du sein"}), pre=prefetch(resource)
    )
    response = ehr.hook(client, "imaging-order-select", body)
    assert response.status_code == 200
    answer = response.json()
    with translation.override("fr"):
        message = postcode_problem("3999")
    assert message and any(message in c["detail"] for c in answer["cards"]), answer["cards"]
    assert answer["systemActions"], "the rating does not rest on the postcode"
    assert Consultation.objects.get().inputs["patient"]["postcode"] == ""
    # A real postcode outside the territory: kept in the record, said on the card.
    resource = {**patient(), "address": [{"postalCode": "75011", "city": "Paris"}]}
    body = hook_body(
        "order-select", order("us-breast", {"text": "nodule du sein"}), pre=prefetch(resource)
    )
    answer = ehr.hook(client, "imaging-order-select", body).json()
    with translation.override("fr"):
        notice = postcode_notice("75011")
    assert notice and any(notice in c["detail"] for c in answer["cards"]), answer["cards"]
    assert answer["systemActions"]
    latest = Consultation.objects.order_by("-created_at").first()
    assert latest is not None and latest.inputs["patient"]["postcode"] == "75011"


def test_indications_list_each_indications_red_flags(
    client: Client, emr: dict[str, Any], world: FlowPacs
) -> None:
    everything = client.get("/api/v1/indications", **emr)
    assert everything.status_code == 200
    rows = {row["code"]: row for row in everything.json()}
    assert len(rows) >= 60
    codes = {flag["code"] for flag in rows["low-back-pain-acute"]["red_flags"]}
    assert "fever-or-general-decline" in codes
    assert all(
        flag["label_fr"] and flag["label_en"] for flag in rows["low-back-pain-acute"]["red_flags"]
    )
    searched = client.get("/api/v1/indications", {"q": "lombalgie"}, **emr).json()
    assert searched[0]["red_flags"]


def test_a_postcode_outside_the_territory_is_said_on_the_page_and_by_rest_and_not_refused(
    alice: Client, client: Client, emr: dict[str, Any], world: FlowPacs
) -> None:
    # A patient from elsewhere is still a patient: decided and orderable, the centres
    # listed without distances, and the answer says why.
    with translation.override("fr"):
        message = postcode_notice("75011")
    assert message and postcode_problem("75011") is None
    page = alice.post(
        "/orders/new/", {**FLOW_PATIENT, "postcode": "75011", "indication_code": "breast-lump"}
    )
    assert page.status_code == 302, page.content.decode()[:1000]
    options = alice.get(page["Location"]).content.decode()
    assert message in html.unescape(options)
    assert 'name="slot_id"' in options, "the order can still be booked"
    alice.logout()
    body = {"patient": {**GOOD, "postcode": "75011"}, "indication_code": "breast-lump"}
    rest = client.post("/api/v1/evaluate", body, content_type="application/json", **emr)
    assert rest.status_code == 201, rest.json()
    assert rest.json()["notices"] == [
        {"code": "postcode_outside_territory", "field": "postcode", "message": message}
    ]
    assert any(row["slot_id"] for row in rest.json()["options"])
    # Not a postcode at all is still refused, next to the field.
    bad = client.post(
        "/api/v1/evaluate",
        {**body, "patient": {**GOOD, "postcode": "7501"}},
        content_type="application/json",
        **emr,
    )
    assert bad.status_code == 400
    assert "postcode" in bad.json()["error"]["fields"]["patient"]
