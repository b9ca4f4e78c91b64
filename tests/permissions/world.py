"""The objects every row of the permission matrix acts on. Each kind of object is
owned by the *first* actor of its kind (alice's consultation and order, carol's
centre), so that the second actor of that kind (bob, dave) shows what guessing
someone else's id gets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from guidelines.models import Procedure, Rule, RuleSet
from guidelines.rulepack import rulepack_load
from imaging_cds.pseudonym import pseudonymise
from imaging_cds.roles import Role
from ordering.models import Consultation, Order, OutboundKind, OutboundMessage, OutboundState
from scheduling.models import Booking, Centre, Equipment, Slot, SlotStatus
from tests.actors import Actors, make_actors, make_user
from tests.scheduling.conftest import make_centre, make_machine

TEST_PACK = Path(__file__).resolve().parent.parent / "guidelines" / "fixtures" / "test_neuro.yaml"

ANONYMOUS = "anonymous"
PRESCRIBER = "prescriber"
OTHER_PRESCRIBER = "other_prescriber"
EDITOR = "guideline_editor"
MANAGER = "centre_manager"
OTHER_MANAGER = "other_manager"
API_CLIENT = "api_client"
REVOKED_CLIENT = "revoked_client"
ACTORS = (
    ANONYMOUS,
    PRESCRIBER,
    OTHER_PRESCRIBER,
    EDITOR,
    MANAGER,
    OTHER_MANAGER,
    API_CLIENT,
    REVOKED_CLIENT,
)


@dataclass
class World:
    actors: Actors
    rule_set: RuleSet
    rule: Rule
    centre: Centre
    other_centre: Centre
    equipment: Equipment
    other_equipment: Equipment
    consultation: Consultation
    other_consultation: Consultation
    order: Order
    other_order: Order
    # What the API client created itself (alice's are another owner's, for it).
    api_consultation: Consultation
    api_order: Order
    outbound_message: OutboundMessage
    api_token: str
    revoked_token: str

    def client(self, actor: str) -> Client:
        """A fresh client acting as ``actor``: a session for people, a token for EHRs."""
        client = Client()
        people: dict[str, User] = {
            PRESCRIBER: self.actors.alice,
            OTHER_PRESCRIBER: self.actors.bob,
            EDITOR: self.actors.erin,
            MANAGER: self.actors.carol,
            OTHER_MANAGER: self.actors.dave,
        }
        if actor in people:
            client.force_login(people[actor])
        elif actor == API_CLIENT:
            client.defaults["HTTP_AUTHORIZATION"] = f"Token {self.api_token}"
        elif actor == REVOKED_CLIENT:
            client.defaults["HTTP_AUTHORIZATION"] = f"Token {self.revoked_token}"
        return client


def _slot(equipment: Equipment, days: int, status: str = SlotStatus.FREE) -> Slot:
    start = timezone.now().replace(microsecond=0) + timedelta(days=days)
    return Slot.objects.create(
        equipment=equipment, start=start, end=start + timedelta(minutes=20), status=status
    )


def _consultation(prescriber: User, identifier: str) -> Consultation:
    return Consultation.objects.create(
        prescriber=prescriber,
        patient_ref=pseudonymise(f"local|{identifier}"),
        indication_code="headache",
        inputs={},
        outputs={"ratings": []},
        rule_set_version=1,
    )


def _order(consultation: Consultation, slot: Slot, identifier: str) -> Order:
    procedure = Procedure.objects.get(code="mr-brain")
    booking = Booking.objects.create(
        slot=slot,
        procedure_code=procedure.code,
        booked_by=consultation.prescriber,
        reference=str(consultation.pk),
    )
    return Order.objects.create(
        consultation=consultation,
        prescriber=consultation.prescriber,
        procedure=procedure,
        booking=booking,
        patient_identifier=identifier,
        patient_identifier_kind="local",
        patient_birth_date=date(1970, 1, 1),
        patient_sex="F",
    )


def make_world() -> World:
    actors = make_actors()
    revoked = make_user("revoked-ehr", Role.API_CLIENT)
    revoked_token = Token.objects.create(user=revoked).key
    Token.objects.filter(user=revoked).delete()
    rule_set = rulepack_load(paths=[TEST_PACK], publish=True, label="Matrix").rule_set
    rule = Rule.objects.filter(rule_set=rule_set).order_by("pk").first()
    assert rule is not None
    centre = make_centre("Centre de Carol")
    centre.managers.add(actors.carol)
    other_centre = make_centre("Centre de Dave")
    other_centre.managers.add(actors.dave)
    equipment = make_machine(centre)
    other_equipment = make_machine(other_centre)
    consultation = _consultation(actors.alice, "MATRIX01")
    other_consultation = _consultation(actors.bob, "MATRIX02")
    order = _order(consultation, _slot(equipment, 2, SlotStatus.BOOKED), "MATRIX01")
    other_order = _order(other_consultation, _slot(equipment, 3, SlotStatus.BOOKED), "MATRIX02")
    api_consultation = _consultation(actors.emr, "MATRIX03")
    api_order = _order(api_consultation, _slot(equipment, 4, SlotStatus.BOOKED), "MATRIX03")
    return World(
        actors=actors,
        rule_set=rule_set,
        rule=rule,
        centre=centre,
        other_centre=other_centre,
        equipment=equipment,
        other_equipment=other_equipment,
        consultation=consultation,
        other_consultation=other_consultation,
        order=order,
        other_order=other_order,
        api_consultation=api_consultation,
        api_order=api_order,
        outbound_message=OutboundMessage.objects.create(
            order=order,
            centre=centre,
            kind=OutboundKind.NEW,
            placer_number=order.pk.hex.upper(),
            control_id="CTRL-MATRIX",
            payload="",
            state=OutboundState.FAILED,
            last_error="cannot connect (Connection refused)",
        ),
        api_token=Token.objects.create(user=actors.emr).key,
        revoked_token=revoked_token,
    )
