"""Every read of patient data through the REST API and FHIR leaves an audit record, as
the pages' reads do (ordering/selectors.py), on real PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from imaging_cds.models import AuditEvent
from tests.actors import Actors
from tests.world import API_PATIENT, WITHOUT_PRIORS, FlowPacs

PATIENT = API_PATIENT


@pytest.fixture
def signed(client: Client, emr: dict[str, Any], world: FlowPacs) -> dict[str, Any]:
    decision = client.post(
        "/api/v1/evaluate",
        {"patient": PATIENT, "indication_code": "breast-lump"},
        content_type="application/json",
        **emr,
    ).json()
    option = next(o for o in decision["options"] if o["slot_id"])
    order = client.post(
        "/api/v1/orders",
        {
            "consultation": decision["consultation_id"],
            "slot_id": option["slot_id"],
            "procedure_code": option["procedure_code"],
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
    assert order.status_code == 201, order.content
    return {"consultation": decision["consultation_id"], "order": order.json()["order_id"]}


def reads(action: str, object_id: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, object_id=object_id))


def test_rest_reads_of_a_consultation_are_audited(
    client: Client, emr: dict[str, Any], signed: dict[str, Any], actors: Actors
) -> None:
    consultation = signed["consultation"]
    assert client.get(f"/api/v1/consultations/{consultation}", **emr).status_code == 200
    [event] = reads("consultation.read", consultation)
    assert event.actor_username == actors.emr.username and event.patient_ref
    found = client.get("/api/v1/slots", {"consultation": consultation}, **emr)
    assert found.status_code == 200
    assert len(reads("consultation.read", consultation)) == 2


def test_rest_and_fhir_reads_of_an_order_are_audited(
    client: Client, emr: dict[str, Any], signed: dict[str, Any]
) -> None:
    order = signed["order"]
    assert client.get(f"/api/v1/orders/{order}", **emr).status_code == 200
    assert len(reads("order.read", order)) == 1
    fhir = client.get(f"/fhir/ServiceRequest/{order}", **emr)
    assert fhir.status_code == 200 and fhir.json()["subject"]["identifier"]["value"]
    events = reads("order.read", order)
    assert len(events) == 2
    assert all(e.patient_ref == events[0].patient_ref and e.patient_ref for e in events)


def test_a_read_of_someone_elses_consultation_is_a_404_and_audits_nothing(
    client: Client, signed: dict[str, Any], actors: Actors
) -> None:
    from imaging_cds.roles import Role
    from tests.actors import make_user

    other = make_user("other-emr-client", Role.API_CLIENT)
    auth: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Token {Token.objects.create(user=other).key}"}
    consultation = signed["consultation"]
    assert client.get(f"/api/v1/consultations/{consultation}", **auth).status_code == 404
    assert client.get(f"/fhir/ServiceRequest/{signed['order']}", **auth).status_code == 404
    assert reads("consultation.read", consultation) == []
