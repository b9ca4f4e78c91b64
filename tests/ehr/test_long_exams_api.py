"""REST and CDS Hooks show a long exam's run of slots and, with no slot, the same
reason as the page (scheduling.no_slot)."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.utils import translation

from ordering.cds.cards import md_escape
from ordering.decision import OptionFilters, consultation_options
from ordering.models import CdsCard, Consultation
from scheduling.models import Slot
from tests.ehr.conftest import Ehr
from tests.ehr.test_cds_hooks import hook_body, observation, order, patient, prefetch
from tests.world import API_PATIENT, FlowPacs

MALE = {**API_PATIENT, "sex": "M", "pregnancy": "no"}


def evaluate(client: Client, auth: dict[str, Any], **body: Any) -> Any:
    return client.post("/api/v1/evaluate", body, content_type="application/json", **auth)


def test_the_api_gives_a_long_exams_end_and_run_and_holds_it_whole(
    client: Client, emr: dict[str, Any], world: FlowPacs
) -> None:
    response = evaluate(client, emr, patient=MALE, indication_code="low-back-pain-chronic")
    assert response.status_code == 201, response.content
    body = response.json()
    option = next(
        o
        for o in body["options"]
        if o["procedure_code"] == "mr-lumbar-spine" and len(o["slot_ids"]) == 2
    )
    run = list(Slot.objects.filter(pk__in=option["slot_ids"]).order_by("start"))
    assert option["slot_id"] == run[0].pk and option["no_slot"] is None
    assert option["end"].startswith(run[-1].end.astimezone().strftime("%Y-%m-%d"))
    hold = client.post(
        "/api/v1/holds",
        {
            "consultation": body["consultation_id"],
            "slot_id": option["slot_id"],
            "procedure_code": "mr-lumbar-spine",
        },
        content_type="application/json",
        **emr,
    )
    assert hold.status_code == 201, hold.content
    assert hold.json()["slot_ids"] == option["slot_ids"]


def test_with_no_slot_the_api_row_and_the_card_give_the_reason(
    client: Client, emr: dict[str, Any], ehr: Ehr, world: FlowPacs
) -> None:
    # 340 kg: no table of the territory takes the patient.
    heavy = {**API_PATIENT, "weight_kg": 340}
    body = evaluate(client, emr, patient=heavy, indication_code="breast-lump").json()
    row = next(o for o in body["options"] if o["procedure_code"] == "us-breast")
    assert row["slot_id"] is None
    assert row["no_slot"]["cause"] == "patient"
    assert row["no_slot"]["excluded_by"] == ["weight"]
    assert row["no_slot"]["actions"] == ["order_without_booking"]
    consultation = Consultation.objects.get(pk=body["consultation_id"])
    reason = consultation_options(consultation, OptionFilters()).no_slot("us-breast")
    assert reason is not None
    with translation.override("fr"):
        assert row["no_slot"]["message"] == reason.message()

    weight = observation("29463-7", valueQuantity={"value": 340, "unit": "kg"})
    draft = order("us-breast", {"text": "nodule du sein"})
    answer = ehr.hook(
        client,
        "imaging-order-select",
        hook_body("order-select", draft, pre=prefetch(patient(), weight)),
    )
    assert answer.status_code == 200, answer.content
    [card] = answer.json()["cards"]
    carded = CdsCard.objects.get(pk=card["uuid"]).consultation
    reason = consultation_options(carded, OptionFilters()).no_slot("us-breast")
    assert reason is not None and reason.cause == "patient"
    with translation.override("fr"):
        assert md_escape(reason.message()) in card["detail"]
