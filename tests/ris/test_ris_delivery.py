"""Orders to the centre's RIS, delivered by the outbox service to a real MLLP
listener, on real PostgreSQL, Redis and Orthanc (the signing's prior-exam lookup).
The Celery side is in test_outbox_worker.py."""

from __future__ import annotations

import html
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from ordering.models import OutboundKind, OutboundMessage, OutboundState
from ordering.outbox import outbox_centres_due, outbox_deliver_centre, outbox_write
from ordering.ris.messages import placer_number
from scheduling.models import RisEndpoint
from tests.actors import Actors
from tests.ris.conftest import sign, wire_centres
from tests.ris.mllp_listener import MllpListener
from tests.world import PATIENT_NAMES, FlowPacs

BUDGET = 30.0


def deliver(message: OutboundMessage) -> OutboundMessage:
    outbox_deliver_centre(centre_id=message.centre_id, budget_seconds=BUDGET)
    message.refresh_from_db()
    return message


def test_signing_queues_the_new_order_and_cancelling_the_cancellation_each_parsed_by_the_ris(
    alice: Client, world: FlowPacs, listener: MllpListener
) -> None:
    wire_centres(listener.port)
    order = sign(alice, 1)
    new = OutboundMessage.objects.get(order=order)
    assert (new.kind, new.state, new.attempts) == (OutboundKind.NEW, OutboundState.QUEUED, 0)
    assert PATIENT_NAMES["birth_name"] in new.payload
    assert deliver(new).state == OutboundState.ACKNOWLEDGED
    assert alice.post(f"/orders/{order.pk}/cancel/").status_code == 302
    cancel = OutboundMessage.objects.get(order=order, kind=OutboundKind.CANCEL)
    assert deliver(cancel).state == OutboundState.ACKNOWLEDGED
    received = listener.received
    assert not listener.state.parse_errors
    assert [(r.order_control, r.placer_number) for r in received] == [
        ("NW", placer_number(order)),
        ("CA", placer_number(order)),
    ]
    profile = RisEndpoint.objects.get(centre_id=new.centre_id).profile
    assert received[0].message_type == f"{profile[:3]}^{profile[4:]}^{profile}"
    # The name goes to the RIS as the INS traits: birth name, first given name(s), type L.
    assert "ESSAI-TESTNOM^Camille^Testprénom^^^^L" in received[0].er7
    page = alice.get(f"/orders/{order.pk}/").content.decode()
    assert "Reçue par le centre" in page or "Received by the centre" in page


def test_signing_or_cancelling_twice_never_queues_a_second_message(
    alice: Client, world: FlowPacs, listener: MllpListener
) -> None:
    wire_centres(listener.port)
    order = sign(alice, 2)
    first = OutboundMessage.objects.get(order=order)
    assert outbox_write(order=order, kind=OutboundKind.NEW) == first
    assert OutboundMessage.objects.filter(order=order).count() == 1
    deliver(first)
    deliver(first)
    assert len(listener.received) == 1


def test_an_order_at_a_centre_without_a_ris_endpoint_queues_nothing(
    alice: Client, world: FlowPacs
) -> None:
    order = sign(alice, 3)
    assert not OutboundMessage.objects.filter(order=order).exists()
    alice.post(f"/orders/{order.pk}/cancel/")
    assert not OutboundMessage.objects.filter(order=order).exists()


def test_a_refusal_is_rejected_with_the_ris_text_and_shown_without_error(
    alice: Client, world: FlowPacs, listener: MllpListener
) -> None:
    wire_centres(listener.port)
    listener.answer("AE")
    message = deliver(OutboundMessage.objects.get(order=sign(alice, 4)))
    assert message.state == OutboundState.REJECTED
    assert message.last_error == "AE: Unknown procedure code"
    assert alice.get(f"/orders/{message.order_id}/").status_code == 200


def test_the_manager_sees_the_days_incoming_orders_and_each_state(
    alice: Client, world: FlowPacs, listener: MllpListener, actors: Actors
) -> None:
    wire_centres(listener.port)
    order = sign(alice, 41)
    deliver(OutboundMessage.objects.get(order=order, kind=OutboundKind.NEW))
    assert alice.post(f"/orders/{order.pk}/cancel/").status_code == 302
    cancel = OutboundMessage.objects.get(order=order, kind=OutboundKind.CANCEL)
    # The cancellation as if it had come in two days ago.
    OutboundMessage.objects.filter(pk=cancel.pk).update(
        created_at=timezone.now() - timedelta(days=2)
    )
    cancel.centre.managers.add(actors.carol)
    manager = Client()
    manager.force_login(actors.carol)
    path = f"/orders/centre/{cancel.centre_id}/messages/"
    today = html.unescape(manager.get(path).content.decode())
    assert "1 message ce jour" in today and "Nouvelle demande (HL7)" in today
    assert "Reçue par le centre" in today and "Annulation (HL7)" not in today
    day = (timezone.localdate() - timedelta(days=2)).isoformat()
    before = html.unescape(manager.get(path, {"day": day}).content.decode())
    assert "Annulation (HL7)" in before and "Nouvelle demande (HL7)" not in before
    # Not a day: said, and today shown.
    wrong = html.unescape(manager.get(path, {"day": "hier"}, follow=True).content.decode())
    assert "Ce n’est pas une date" in wrong and "Nouvelle demande (HL7)" in wrong


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("closed", "cannot connect"),
        ("garbage", "the answer is not an HL7 ACK"),
        ("huge", "the ACK is larger than 65536 bytes"),
        ("silent", "no complete ACK within the time allowed"),
        ("close", "the RIS closed the connection without an ACK"),
        ("tls", "TLS handshake failed"),
    ],
)
def test_a_misconfigured_or_broken_ris_leaves_the_message_to_retry_then_failed_with_the_reason(
    alice: Client,
    world: FlowPacs,
    listener: MllpListener,
    fast_retries: None,
    settings: Any,
    answer: str,
    reason: str,
) -> None:
    wire_centres(listener.port)
    if answer == "closed":
        listener.stop()
    elif answer == "tls":
        RisEndpoint.objects.update(use_tls=True)
    else:
        listener.answer(answer)
    settings.OUTBOX_MAX_ATTEMPTS = 2
    message = deliver(OutboundMessage.objects.get(order=sign(alice, 5)))
    assert message.state == OutboundState.QUEUED
    assert message.attempts == 1 and message.next_attempt_at > timezone.now()
    assert message.last_error.startswith(reason)
    OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    message = deliver(message)
    assert (message.state, message.attempts) == (OutboundState.FAILED, 2)
    assert message.last_error.startswith(reason)
    assert alice.get(f"/orders/{message.order_id}/").status_code == 200


@pytest.mark.parametrize("profile", ["ORM_O01", "OMI_O23"])
def test_each_profile_is_built_valid_and_parsed_by_the_ris_as_its_message_structure(
    alice: Client, world: FlowPacs, listener: MllpListener, profile: str
) -> None:
    wire_centres(listener.port)
    RisEndpoint.objects.update(profile=profile)
    order = sign(alice, 6)
    alice.post(f"/orders/{order.pk}/cancel/")
    for message in OutboundMessage.objects.filter(order=order).order_by("id"):
        assert deliver(message).state == OutboundState.ACKNOWLEDGED
    assert not listener.state.parse_errors
    new, cancel = listener.received
    version = {"ORM_O01": "2.5", "OMI_O23": "2.5.1"}[profile]
    assert new.er7.split("\r")[0].split("|")[11] == version
    segments = [line.split("|")[0] for line in new.er7.split("\r")]
    expected = ["MSH", "PID", "PV1", "ORC", "OBR"]
    if profile == "OMI_O23":
        expected = ["MSH", "PID", "PV1", "ORC", "TQ1", "OBR", "IPC"]
    assert segments == expected
    assert (new.order_control, cancel.order_control) == ("NW", "CA")


def test_a_message_left_sent_by_a_dead_worker_is_sent_again_with_the_same_control_id(
    alice: Client, world: FlowPacs, listener: MllpListener
) -> None:
    wire_centres(listener.port)
    message = OutboundMessage.objects.get(order=sign(alice, 9))
    # As a worker killed between the send and the ACK leaves it.
    OutboundMessage.objects.filter(pk=message.pk).update(state=OutboundState.SENT, attempts=1)
    assert deliver(message).state == OutboundState.ACKNOWLEDGED
    assert [r.control_id for r in listener.received] == [message.control_id]
    assert message.attempts == 2


def test_the_retention_purge_deletes_the_messages_with_their_order(
    alice: Client, world: FlowPacs, listener: MllpListener
) -> None:
    from imaging_cds.retention import retention_purge

    wire_centres(listener.port)
    order = sign(alice, 10)
    alice.post(f"/orders/{order.pk}/cancel/")
    assert OutboundMessage.objects.filter(order=order).count() == 2
    # The order is cancelled, so nothing keeps it: everything older than now goes.
    assert retention_purge(days=0).orders >= 1
    assert not OutboundMessage.objects.filter(placer_number=placer_number(order)).exists()


def test_a_broker_down_at_commit_leaves_the_message_queued_and_the_signing_done(
    alice: Client,
    world: FlowPacs,
    listener: MllpListener,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from kombu.exceptions import OperationalError

    from ordering.tasks import outbox_deliver

    def broker_down(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    # The load run stops Redis for real (bench/load_run.py, fault redis-restart); here
    # the enqueue alone fails, to show what the signing does then.
    monkeypatch.setattr(outbox_deliver, "delay", broker_down)
    wire_centres(listener.port)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        order = sign(alice, 9)
    assert callbacks, "the signing enqueued nothing"
    message = OutboundMessage.objects.get(order=order)
    assert message.state == OutboundState.QUEUED
    # Beat's safety net sends it once the broker is back.
    assert message.centre_id in outbox_centres_due()
    assert deliver(message).state == OutboundState.ACKNOWLEDGED
