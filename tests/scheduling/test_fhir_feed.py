"""The FHIR R4 Slot feed, read over real HTTP from a local server."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from scheduling.models import FeedState, Slot, SlotSource, SlotStatus
from scheduling.services.feeds import availability_refresh
from tests.scheduling.conftest import make_centre, make_machine
from tests.scheduling.fhir_server import FhirServer, published_examples, slot_resource

pytestmark = pytest.mark.django_db


def _fhir_centre(server: FhirServer, feed: str = "centre-a"):
    centre = make_centre(feed_url=server.url(feed), feed_interval_seconds=300)
    machine = make_machine(centre, "IRM 1,5 T", "MR", fhir_schedule="Schedule/example")
    return centre, machine


def _future(days: float = 2, hour: int = 9):
    moment = timezone.localtime() + timedelta(days=days)
    return moment.replace(hour=hour, minute=0, second=0, microsecond=0)


def test_the_published_hl7_slot_examples_validate_and_only_the_free_one_is_offered(
    fhir_server: FhirServer,
) -> None:
    centre, machine = _fhir_centre(fhir_server)
    fhir_server.serve("centre-a", published_examples(move_to_after=timezone.now()))
    outcome = availability_refresh(centre_id=centre.pk)
    assert outcome.ok, outcome.error
    slots = list(Slot.objects.filter(equipment=machine))
    assert [(s.external_id, s.status, s.source) for s in slots] == [
        ("example", SlotStatus.FREE, SlotSource.FHIR)
    ]
    assert slots[0].end - slots[0].start == timedelta(minutes=15)
    state = FeedState.objects.get(centre=centre)
    assert state.last_success_at is not None and state.consecutive_failures == 0
    assert state.last_slot_count == 1


def test_the_published_examples_as_dated_are_read_and_left_out_as_past(
    fhir_server: FhirServer,
) -> None:
    centre, machine = _fhir_centre(fhir_server)
    fhir_server.serve("centre-a", published_examples())
    outcome = availability_refresh(centre_id=centre.pk)
    assert outcome.ok and outcome.pages == 1
    assert not Slot.objects.filter(equipment=machine).exists()


def test_the_search_asks_for_free_slots_from_now_and_follows_every_next_page(
    fhir_server: FhirServer,
) -> None:
    centre, machine = _fhir_centre(fhir_server)
    pages = [
        [slot_resource(f"p{p}-{i}", "Schedule/example", _future(1 + p, 8 + i)) for i in range(3)]
        for p in range(3)
    ]
    fhir_server.serve("centre-a", *pages)
    outcome = availability_refresh(centre_id=centre.pk)
    assert outcome.ok and outcome.pages == 3 and outcome.created == 9
    assert Slot.objects.filter(equipment=machine, status=SlotStatus.FREE).count() == 9
    first = urlsplit(fhir_server.requests_for("centre-a")[0])
    query = parse_qs(first.query)
    assert first.path == "/centre-a/Slot"
    assert query["status"] == ["free"]
    assert any(value.startswith("ge") for value in query["start"])
    assert len(fhir_server.requests_for("centre-a")) == 3


def test_a_second_refresh_changes_nothing_and_vanished_slots_are_withdrawn_unless_booked(
    fhir_server: FhirServer, actors
) -> None:
    centre, machine = _fhir_centre(fhir_server)
    a, b, c = (
        slot_resource(x, "Schedule/example", _future(3, h))
        for x, h in (("a", 9), ("b", 10), ("c", 11))
    )
    fhir_server.serve("centre-a", [a, b, c])
    assert availability_refresh(centre_id=centre.pk).created == 3
    again = availability_refresh(centre_id=centre.pk)
    assert (again.created, again.withdrawn) == (0, 0)
    assert Slot.objects.filter(equipment=machine).count() == 3
    Slot.objects.filter(external_id="b").update(status=SlotStatus.BOOKED)
    fhir_server.serve("centre-a", [a])
    outcome = availability_refresh(centre_id=centre.pk)
    assert outcome.withdrawn == 1
    status = dict(Slot.objects.filter(equipment=machine).values_list("external_id", "status"))
    assert status == {"a": "free", "b": "booked", "c": "withdrawn"}
    # The centre offers c again: it comes back, still one row.
    fhir_server.serve("centre-a", [a, c])
    availability_refresh(centre_id=centre.pk)
    assert Slot.objects.get(external_id="c").status == SlotStatus.FREE
    assert Slot.objects.filter(equipment=machine).count() == 3


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"<html>maintenance</html>", "not JSON"),
        (b'{"resourceType": "Patient", "id": "x"}', "not a FHIR Bundle"),
        # A Slot without its required schedule.
        (
            b'{"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": '
            b'{"resourceType": "Slot", "id": "z", "status": "free", '
            b'"start": "2031-01-01T09:00:00Z", "end": "2031-01-01T09:20:00Z"}}]}',
            "invalid Bundle",
        ),
    ],
)
def test_a_malformed_bundle_is_rejected_with_its_error_and_known_slots_are_kept(
    fhir_server: FhirServer, body: bytes, expected: str
) -> None:
    centre, machine = _fhir_centre(fhir_server)
    fhir_server.serve("centre-a", [slot_resource("keep", "Schedule/example", _future(2))])
    assert availability_refresh(centre_id=centre.pk).ok
    fhir_server.serve("centre-a", raw=body)
    before = timezone.now()
    outcome = availability_refresh(centre_id=centre.pk)
    assert not outcome.ok and expected in outcome.error
    assert Slot.objects.get(equipment=machine).status == SlotStatus.FREE
    state = FeedState.objects.get(centre=centre)
    assert expected in state.last_error and state.consecutive_failures == 1
    assert state.last_success_at is not None and state.last_success_at < before
    assert state.next_run_at >= before + timedelta(seconds=600)


def test_a_server_error_is_recorded_and_each_failure_doubles_the_wait(
    fhir_server: FhirServer,
) -> None:
    centre, _ = _fhir_centre(fhir_server)
    fhir_server.serve("centre-a", status=500, raw=b'{"resourceType": "OperationOutcome"}')
    waits = []
    for _ in range(3):
        now = timezone.now()
        outcome = availability_refresh(centre_id=centre.pk)
        assert not outcome.ok and "HTTP 500" in outcome.error
        state = FeedState.objects.get(centre=centre)
        waits.append(round((state.next_run_at - now).total_seconds() / 60))
    assert waits == [10, 20, 40]
    assert state.consecutive_failures == 3
    fhir_server.serve("centre-a", [])
    assert availability_refresh(centre_id=centre.pk).ok
    state.refresh_from_db()
    assert state.consecutive_failures == 0 and "HTTP 500" in state.last_error


def test_a_server_that_does_not_answer_in_time_is_a_recorded_timeout(
    fhir_server: FhirServer, settings
) -> None:
    settings.AVAILABILITY_FEED_TIMEOUT_SECONDS = 0.5
    centre, _ = _fhir_centre(fhir_server)
    fhir_server.serve("centre-a", [], delay=3)
    started = timezone.now()
    outcome = availability_refresh(centre_id=centre.pk)
    assert not outcome.ok and "timeout" in outcome.error
    assert (timezone.now() - started).total_seconds() < 2.5


def test_slots_of_schedules_that_match_no_machine_are_counted_and_not_offered(
    fhir_server: FhirServer,
) -> None:
    centre, _machine = _fhir_centre(fhir_server)
    fhir_server.serve(
        "centre-a",
        [
            slot_resource("mine", "http://elsewhere/fhir/Schedule/example", _future(2)),
            slot_resource("other", "Schedule/scanner-9", _future(2)),
        ],
    )
    outcome = availability_refresh(centre_id=centre.pk)
    assert outcome.ok and outcome.unmapped == 1
    assert list(Slot.objects.values_list("external_id", flat=True)) == ["mine"]
    assert FeedState.objects.get(centre=centre).last_unmapped_count == 1


def test_a_next_link_to_another_server_is_refused(fhir_server: FhirServer) -> None:
    centre, _ = _fhir_centre(fhir_server)
    fhir_server.serve("centre-a", [], next_link_override="http://169.254.169.254/latest")
    outcome = availability_refresh(centre_id=centre.pk)
    assert not outcome.ok and "leaves the feed's server" in outcome.error


def test_a_dead_server_is_recorded(fhir_server: FhirServer) -> None:
    from tests.orthanc import free_port

    centre = make_centre(feed_url=f"http://127.0.0.1:{free_port()}/fhir")
    outcome = availability_refresh(centre_id=centre.pk)
    assert not outcome.ok and "cannot reach" in outcome.error


def test_an_oversized_page_is_refused_whole_and_known_slots_are_kept(
    fhir_server: FhirServer, settings: object
) -> None:
    centre, machine = _fhir_centre(fhir_server)
    fhir_server.serve("centre-a", [slot_resource("keep", "Schedule/example", _future(2))])
    assert availability_refresh(centre_id=centre.pk).ok
    settings.AVAILABILITY_FEED_MAX_PAGE_BYTES = 4096  # type: ignore[attr-defined]
    padding = [slot_resource(f"s{i}", "Schedule/example", _future(3)) for i in range(40)]
    fhir_server.serve("centre-a", padding)
    outcome = availability_refresh(centre_id=centre.pk)
    assert not outcome.ok and "larger than 4096 bytes" in outcome.error
    assert list(Slot.objects.filter(equipment=machine).values_list("external_id", flat=True)) == [
        "keep"
    ]
