"""CDS Hooks in the pilot's modes: silent answers no card yet records the decision in
full, active records the card and whether it interrupts, feedback records the answer;
real PostgreSQL, Redis, Orthanc and signed JWTs."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.utils import timezone

from ordering.models import (
    CdsCard,
    CdsModeValue,
    Consultation,
    DecisionMeasure,
    PilotChannel,
    PrescriberAnswer,
    PrescriberProfile,
    RatingClass,
)
from ordering.pilot.modes import cds_mode_set
from tests.actors import Actors
from tests.ehr.conftest import Ehr
from tests.ehr.test_cds_hooks import (
    _rated_card,
    breast_lump,
    hook_body,
    order,
    patient,
    prefetch,
)
from tests.ehr.test_rest_api import evaluate
from tests.world import FlowPacs

PACEMAKER = {"text": "troubles cognitifs récents chez un patient porteur d'un pacemaker"}


def _contraindicated_sign(client: Client, ehr: Ehr) -> dict:
    body = hook_body(
        "order-sign", order("mr-brain", PACEMAKER), pre=prefetch(patient(born="1950-05-02"))
    )
    response = ehr.hook(client, "imaging-order-sign", body)
    assert response.status_code == 200, response.content
    return response.json()


def test_in_silent_mode_the_hook_answers_no_card_but_records_the_whole_decision(
    client: Client, ehr: Ehr, world: FlowPacs, actors: Actors
) -> None:
    cds_mode_set(user=actors.erin, mode="silent", starts_on=timezone.localdate(), reason="T0")
    # Nothing at all: no card, and no systemAction carrying the rating.
    assert _contraindicated_sign(client, ehr) == {"cards": []}
    assert not CdsCard.objects.exists()
    consultation = Consultation.objects.get()
    assert any(r["procedure_code"] == "mr-brain" for r in consultation.outputs["ratings"])
    measure = DecisionMeasure.objects.get(consultation=consultation)
    assert measure.mode == CdsModeValue.SILENT
    assert measure.channel == PilotChannel.CDS_HOOKS
    assert measure.requested_procedure_code == "mr-brain"
    assert measure.rating == RatingClass.NOT_INDICATED
    assert not measure.card_shown and not measure.card_interruptive
    assert measure.options_shown_at is not None and measure.options_shown_at >= measure.decided_at


def test_in_active_mode_a_critical_card_at_signing_counts_as_interruptive(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    [card] = _contraindicated_sign(client, ehr)["cards"]
    assert card["indicator"] == "critical"
    measure = DecisionMeasure.objects.get()
    assert measure.mode == CdsModeValue.ACTIVE
    assert measure.card_shown and measure.card_interruptive


def test_an_info_card_at_selection_does_not_interrupt(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    body = hook_body("order-select", order("us-breast", breast_lump()), pre=prefetch(patient()))
    [card] = ehr.hook(client, "imaging-order-select", body).json()["cards"]
    assert card["indicator"] == "info"
    measure = DecisionMeasure.objects.get()
    assert measure.card_shown and not measure.card_interruptive
    assert measure.rating == RatingClass.INDICATED


def test_feedback_records_an_override_with_its_coded_reason_or_a_change_of_exam(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    card = _rated_card(client, ehr)
    reason = card["overrideReasons"][1]
    overridden = {
        "card": card["uuid"],
        "outcome": "overridden",
        "overrideReason": {"reason": reason, "userComment": "Mme X insists"},
        "outcomeTimestamp": "2026-06-01T10:00:00Z",
    }
    response = ehr.post(
        client, "/cds-services/imaging-order-select/feedback", {"feedback": [overridden]}
    )
    assert response.status_code == 200
    measure = DecisionMeasure.objects.get()
    assert measure.requested_procedure_code == "mg-breast"
    assert measure.answer == PrescriberAnswer.OVERRIDDEN
    # The coded reason only: a free comment may name the patient.
    assert measure.override_reason == reason["code"]
    card = _rated_card(client, ehr)
    [suggestion] = card["suggestions"]
    accepted = {
        "card": card["uuid"],
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": suggestion["uuid"]}],
        "outcomeTimestamp": "2026-06-01T10:00:00Z",
    }
    ehr.post(client, "/cds-services/imaging-order-select/feedback", {"feedback": [accepted]})
    changed = DecisionMeasure.objects.get(consultation__cds_cards__id=card["uuid"])
    assert changed.answer == PrescriberAnswer.CHANGED
    assert changed.procedure_code == "us-breast"


def test_a_service_switched_off_gets_no_card_and_nothing_recorded_while_the_site_is_active(
    client: Client, ehr: Ehr, world: FlowPacs, actors: Actors
) -> None:
    ehr.client.practitioners.create(ehr_user_id="Practitioner/123", user=actors.bob)
    PrescriberProfile.objects.create(
        user=actors.bob,
        rpps="10000000025",
        address="1 rue B",
        postcode="35000",
        town="Rennes",
        phone="0299000000",
        service="Urgences",
    )
    cds_mode_set(
        user=actors.erin,
        mode="off",
        service="Urgences",
        starts_on=timezone.localdate(),
        reason="Urgences join later",
    )
    assert _contraindicated_sign(client, ehr) == {"cards": []}
    assert not Consultation.objects.exists()
    # Another practitioner of the same EHR is still served.
    ehr.client.practitioners.all().delete()
    assert _contraindicated_sign(client, ehr)["cards"]
    assert DecisionMeasure.objects.get().service == ""


def test_in_silent_mode_the_rest_api_answers_without_ratings_or_scores_and_records_it(
    client: Client, emr: dict[str, Any], world: FlowPacs, actors: Actors
) -> None:
    cds_mode_set(user=actors.erin, mode="silent", starts_on=timezone.localdate(), reason="T0")
    response = evaluate(client, emr)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["mode"] == "silent"
    assert body["ratings"] == [] and body["no_imaging_indicated"] is False
    assert body["options"] and all(o["total"] == 0.0 for o in body["options"])
    codes = [o["procedure_code"] for o in body["options"]]
    assert codes == sorted(codes)
    measure = DecisionMeasure.objects.get(consultation_id=body["consultation_id"])
    assert measure.channel == PilotChannel.API and measure.mode == CdsModeValue.SILENT
    # The whole decision is kept: the ratings are in the consultation.
    assert Consultation.objects.get(pk=body["consultation_id"]).outputs["ratings"]
    cds_mode_set(user=actors.erin, mode="active", starts_on=timezone.localdate(), reason="T1")
    # A decision keeps its mode; a new one is answered in full.
    again = client.get(f"/api/v1/consultations/{body['consultation_id']}", **emr).json()
    assert again["ratings"] == [] and again["mode"] == "silent"
    active = evaluate(client, emr).json()
    assert active["mode"] == "active" and active["ratings"][0]["procedure_code"] == "us-breast"
