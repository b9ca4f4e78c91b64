"""The outbox on a real Celery worker (threads pool) over the real Redis broker,
sending to a real MLLP listener that goes down and comes back mid-run."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator

import pytest
from django.test import Client

from ordering.models import OutboundKind, OutboundMessage, OutboundState
from ordering.tasks import outbox_deliver, outbox_dispatch_due
from tests.actors import Actors
from tests.ris.conftest import sign, wire_centres
from tests.ris.mllp_listener import MllpListener
from tests.workers import RESULT_TIMEOUT, real_worker, wait_until
from tests.world import FlowPacs


@pytest.fixture
def worker(redis_url: str, transactional_db: None, clear_cache: None) -> Iterator[None]:
    # Started after clear_cache (a flush under a running worker loses its queue).
    with real_worker(redis_url, reporting=[outbox_dispatch_due], pool="threads", concurrency=3):
        yield


def all_in(*states: str) -> bool:
    return not OutboundMessage.objects.exclude(state__in=states).exists()


@pytest.mark.celery_worker
def test_every_order_reaches_the_ris_once_and_in_order_though_the_ris_restarts_mid_run(
    alice: Client, world: FlowPacs, listener: MllpListener, fast_retries: None, worker: None
) -> None:
    names = wire_centres(listener.port)
    orders = [sign(alice, number) for number in range(1, 4)]
    assert wait_until(lambda: all_in(OutboundState.ACKNOWLEDGED)), "first orders not delivered"
    # The RIS goes down: what is signed and cancelled meanwhile waits, retried with backoff.
    listener.stop()
    orders += [sign(alice, number) for number in range(4, 7)]
    alice.post(f"/orders/{orders[0].pk}/cancel/")
    alice.post(f"/orders/{orders[3].pk}/cancel/")
    assert wait_until(
        lambda: OutboundMessage.objects.filter(
            attempts__gte=2, last_error__startswith="cannot connect"
        ).exists()
    ), "no retry while the RIS was down"
    assert not OutboundMessage.objects.filter(state=OutboundState.FAILED).exists()
    listener.start()
    assert wait_until(lambda: all_in(OutboundState.ACKNOWLEDGED), 30), list(
        OutboundMessage.objects.values_list("state", "attempts", "last_error")
    )
    assert not listener.state.parse_errors
    received = listener.received
    # Exactly once: each (placer number, order control) once, no MSH-10 twice.
    assert len(received) == 6 + 2 == OutboundMessage.objects.count()
    assert Counter(r.control_id for r in received).most_common(1)[0][1] == 1
    expected = set(OutboundMessage.objects.values_list("placer_number", "kind"))
    control = {OutboundKind.NEW: "NW", OutboundKind.CANCEL: "CA"}
    assert {(r.placer_number, r.order_control) for r in received} == {
        (placer, control[OutboundKind(kind)]) for placer, kind in expected
    }
    # In order per centre: the centre's RIS saw its messages in the order they were written.
    seen: dict[int, list[str]] = defaultdict(list)
    for r in received:
        seen[names[r.er7.split("|")[4]]].append(r.control_id)
    for centre_id, control_ids in seen.items():
        written = OutboundMessage.objects.filter(centre_id=centre_id).order_by("id")
        assert control_ids == list(written.values_list("control_id", flat=True))


@pytest.mark.celery_worker
def test_a_refused_message_is_shown_to_the_manager_who_sends_it_again(
    alice: Client,
    world: FlowPacs,
    listener: MllpListener,
    fast_retries: None,
    worker: None,
    actors: Actors,
) -> None:
    wire_centres(listener.port)
    listener.answer("AE")
    order = sign(alice, 7)
    assert wait_until(lambda: all_in(OutboundState.REJECTED)), "the refusal was not recorded"
    message = OutboundMessage.objects.get(order=order)
    message.centre.managers.add(actors.carol)
    manager = Client()
    manager.force_login(actors.carol)
    page = manager.get(f"/orders/centre/{message.centre_id}/messages/").content.decode()
    assert "AE: Unknown procedure code" in page
    # Names never reach the manager's list (reference, exam and state are enough).
    assert "ESSAI-TESTNOM" not in page
    listener.answer("AA")
    retried = manager.post(f"/orders/centre/{message.centre_id}/messages/{message.pk}/retry/")
    assert retried.status_code == 302
    assert wait_until(lambda: all_in(OutboundState.ACKNOWLEDGED)), "the retry was not delivered"
    assert [r.order_control for r in listener.received] == ["NW", "NW"]
    prescriber_page = alice.get(f"/orders/{order.pk}/").content.decode()
    assert "Reçue par le centre" in prescriber_page


@pytest.mark.celery_worker
def test_beat_dispatches_a_centre_whose_message_is_due(
    alice: Client, world: FlowPacs, listener: MllpListener, worker: None
) -> None:
    wire_centres(listener.port)
    listener.stop()
    order = sign(alice, 8)
    assert wait_until(lambda: OutboundMessage.objects.filter(order=order, attempts=1).exists()), (
        "the signing did not enqueue its delivery"
    )
    listener.start()
    OutboundMessage.objects.filter(order=order).update(next_attempt_at=order.signed_at)
    assert outbox_dispatch_due.delay().get(timeout=RESULT_TIMEOUT) == 1
    assert wait_until(lambda: all_in(OutboundState.ACKNOWLEDGED))
    assert outbox_deliver.name == "ordering.tasks.outbox_deliver"
