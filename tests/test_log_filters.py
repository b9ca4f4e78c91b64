"""A booking token (the patient's booking page path) never reaches a log line:
Django's request logger writes the path of every 4xx answer."""

from __future__ import annotations

import io
import logging

import pytest
from django.test import Client

from imaging_cds.logfilters import CapabilityPathFilter


@pytest.mark.django_db
def test_a_booking_pages_path_is_masked_in_the_request_log(client: Client) -> None:
    # The console handler settings.LOGGING configured carries the filter...
    console = next(
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(f, CapabilityPathFilter) for f in handler.filters)
    )
    # ...and a line through its filters and format keeps the path but not the token.
    stream = io.StringIO()
    probe = logging.StreamHandler(stream)
    probe.filters = list(console.filters)
    probe.setFormatter(console.formatter)
    request_log = logging.getLogger("django.request")
    request_log.addHandler(probe)
    try:
        assert client.get("/rdv/SECRETTOKEN123/").status_code == 404
    finally:
        request_log.removeHandler(probe)
    logged = stream.getvalue()
    assert "Not Found: /rdv/…" in logged, logged
    assert "SECRETTOKEN123" not in logged
