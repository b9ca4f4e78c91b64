"""A centre's feed URL goes through the one outbound rule (imaging_cds.outbound): a
feed on loopback or a private network is read only when FEED_ALLOWED_HOSTS lists its
host, plain http only then; a refused feed records why and sends no request."""

from __future__ import annotations

from typing import Any

import pytest

from scheduling.models import FeedState
from scheduling.services.feeds import availability_refresh
from tests.scheduling.conftest import make_centre
from tests.scheduling.fhir_server import FhirServer

pytestmark = pytest.mark.django_db


def test_a_loopback_feed_not_listed_is_refused_without_a_request(
    fhir_server: FhirServer, settings: Any
) -> None:
    settings.FEED_ALLOWED_HOSTS = []
    fhir_server.serve("centre-a", [])
    centre = make_centre(feed_url=fhir_server.url("centre-a"))
    outcome = availability_refresh(centre_id=centre.pk)
    assert not outcome.ok
    state = FeedState.objects.get(centre=centre)
    assert "feed URL refused" in state.last_error
    assert "private network" in state.last_error
    assert state.consecutive_failures == 1
    assert fhir_server.requests == []


def test_a_listed_host_with_another_port_is_still_refused(
    fhir_server: FhirServer, settings: Any
) -> None:
    settings.FEED_ALLOWED_HOSTS = ["127.0.0.1:1"]
    centre = make_centre(feed_url=fhir_server.url("centre-a"))
    assert not availability_refresh(centre_id=centre.pk).ok
    assert fhir_server.requests == []


def test_a_listed_loopback_feed_is_read(fhir_server: FhirServer, settings: Any) -> None:
    settings.FEED_ALLOWED_HOSTS = [f"127.0.0.1:{fhir_server.port}"]
    fhir_server.serve("centre-a", [])
    centre = make_centre(feed_url=fhir_server.url("centre-a"))
    outcome = availability_refresh(centre_id=centre.pk)
    assert outcome.ok, outcome.error
    assert len(fhir_server.requests_for("centre-a")) == 1


def test_a_public_feed_over_plain_http_is_refused_outside_debug(settings: Any) -> None:
    settings.DEBUG = False
    centre = make_centre(feed_url="http://93.184.216.34/fhir")
    outcome = availability_refresh(centre_id=centre.pk)
    assert not outcome.ok
    assert "https is required" in FeedState.objects.get(centre=centre).last_error
