"""The EHR's fhirServer is read only when it is one of the client's allowed servers:
real signed JWTs, real PostgreSQL, real HTTP servers on 127.0.0.1. A server not
allowed never receives a request (so never the EHR's access token)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import Client

from imaging_cds.outbound import Allowance, OutboundRefused, outbound_check
from tests.ehr.conftest import Ehr, FhirServer
from tests.ehr.test_cds_hooks import breast_lump, hook_body, order, patient, searchset
from tests.world import FlowPacs

TOKEN = {"access_token": "ehr-access-token", "token_type": "Bearer", "expires_in": 300}


@contextmanager
def redirecting_server(location: str) -> Iterator[list[str]]:
    """A real server answering every GET with a 302 to ``location``."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        seen.append(f"http://127.0.0.1:{server.server_address[1]}/fhir")  # [0]: its base
        yield seen
    finally:
        server.shutdown()
        server.server_close()


def _without_prefetch(fhir_server_url: str, patient_id: str = "p1") -> dict[str, Any]:
    body = hook_body("order-select", order("us-breast", breast_lump()))
    body["context"]["patientId"] = patient_id
    body["fhirServer"] = fhir_server_url
    body["fhirAuthorization"] = TOKEN
    return body


def test_a_fhir_server_the_client_did_not_register_is_never_contacted_and_412_says_why(
    client: Client, ehr: Ehr, world: FlowPacs, fhir_server: FhirServer
) -> None:
    fhir_server.resources["fhir/Patient/p1"] = patient()
    response = ehr.hook(client, "imaging-order-select", _without_prefetch(fhir_server.url))
    assert response.status_code == 412
    # CDS Hooks: the 412 body is an OperationOutcome saying which source failed.
    [issue] = response.json()["issue"]
    assert "not an allowed FHIR server" in issue["diagnostics"]
    assert fhir_server.requests == []


@pytest.mark.parametrize(
    "named",
    [
        "{origin}/healthz",
        "{origin}/admin",
        "{origin}/fhir-admin",
        "{origin}",
        "http://localhost:{port}/fhir",
        "https://127.0.0.1:{port}/fhir",
        "http://user:pw@127.0.0.1:{port}/fhir",
    ],
)
def test_another_path_host_scheme_or_port_of_an_allowed_server_is_not_fetched(
    client: Client, ehr: Ehr, world: FlowPacs, fhir_server: FhirServer, named: str
) -> None:
    fhir_server.resources["fhir/Patient/p1"] = patient()
    ehr.allow_fhir_server(fhir_server.url)
    origin = fhir_server.url.removesuffix("/fhir")
    port = origin.rsplit(":", 1)[1]
    body = _without_prefetch(named.format(origin=origin, port=port))
    assert ehr.hook(client, "imaging-order-select", body).status_code == 412
    assert fhir_server.requests == []


def test_an_arbitrary_local_port_is_not_fetched_even_when_another_is_allowed(
    client: Client, ehr: Ehr, world: FlowPacs, fhir_server: FhirServer
) -> None:
    with redirecting_server("http://example.invalid/") as other:
        ehr.allow_fhir_server(fhir_server.url)
        response = ehr.hook(client, "imaging-order-select", _without_prefetch(other[0]))
        assert response.status_code == 412
        assert other[1:] == []


@pytest.mark.parametrize(
    "patient_id", ["../../internal-secret?x=", "..", ".", "p1/../../x", "a b", "p%2F1", "x" * 65]
)
def test_a_patient_id_that_is_not_a_fhir_id_is_refused_before_any_read(
    client: Client, ehr: Ehr, world: FlowPacs, fhir_server: FhirServer, patient_id: str
) -> None:
    ehr.allow_fhir_server(fhir_server.url)
    body = _without_prefetch(fhir_server.url, patient_id)
    response = ehr.hook(client, "imaging-order-select", body)
    assert response.status_code == 400
    assert "patientId" in response.json()["error"]["message"]
    assert fhir_server.requests == []


def test_an_allowed_server_is_read_with_the_token_on_the_patients_own_path(
    client: Client, ehr: Ehr, world: FlowPacs, fhir_server: FhirServer
) -> None:
    fhir_server.resources["fhir/Patient/p-1.2"] = patient()
    fhir_server.resources["fhir/Observation"] = searchset()
    ehr.allow_fhir_server(fhir_server.url + "/")  # a trailing slash is the same base
    response = ehr.hook(client, "imaging-order-select", _without_prefetch(fhir_server.url, "p-1.2"))
    assert response.status_code == 200, response.content
    paths = [path.split("?")[0] for path, _ in fhir_server.requests]
    assert paths[0] == "/fhir/Patient/p-1.2"
    assert set(paths) == {"/fhir/Patient/p-1.2", "/fhir/Observation"}
    assert all(auth == "Bearer ehr-access-token" for _, auth in fhir_server.requests)
    assert all("patient=p-1.2&" in path for path, _ in fhir_server.requests[1:])


def test_a_redirect_from_an_allowed_server_is_not_followed(
    client: Client, ehr: Ehr, world: FlowPacs, fhir_server: FhirServer
) -> None:
    fhir_server.resources["fhir/Patient/p1"] = patient()
    with redirecting_server(f"{fhir_server.url}/Patient/p1") as allowed:
        ehr.allow_fhir_server(allowed[0])
        response = ehr.hook(client, "imaging-order-select", _without_prefetch(allowed[0]))
        assert response.status_code == 412
        assert allowed[1] == "/fhir/Patient/p1"  # asked, answered 302 ...
    assert fhir_server.requests == []  # ... and the redirect's target never reached


# --- the one outbound rule (imaging_cds.outbound), on IP literals: no DNS involved ---


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.2/fhir",
        "https://10.1.2.3/fhir",
        "https://172.16.0.9/fhir",
        "https://192.168.1.1/fhir",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/fhir",
        "https://[fd00::1]/fhir",
        "https://[::ffff:10.0.0.1]/fhir",
    ],
)
def test_loopback_and_private_addresses_are_refused_unless_listed(url: str) -> None:
    with pytest.raises(OutboundRefused, match="private network"):
        outbound_check(url, Allowance())
    host = url.split("/")[2]
    outbound_check(url, Allowance(hosts=(host.strip("[]") if "[" in host else host,)))
    outbound_check(url, Allowance(bases=(url,)))


def test_https_is_required_outside_debug_except_to_a_listed_loopback_host(settings: Any) -> None:
    settings.DEBUG = False
    for url, allowance in [
        ("http://93.184.216.34/fhir", Allowance()),
        ("http://10.1.2.3/fhir", Allowance(bases=("http://10.1.2.3/fhir",))),
        ("http://127.0.0.1:8080/fhir", Allowance()),
    ]:
        with pytest.raises(OutboundRefused):
            outbound_check(url, allowance)
    outbound_check("https://93.184.216.34/fhir", Allowance())
    outbound_check("http://127.0.0.1:8080/fhir", Allowance(hosts=("127.0.0.1:8080",)))
    settings.DEBUG = True
    outbound_check("http://10.1.2.3/fhir", Allowance(bases=("http://10.1.2.3/fhir",)))


def test_a_url_must_lie_under_an_allowed_base_segment_by_segment() -> None:
    allowance = Allowance(bases=("https://93.184.216.34/fhir/r4",))
    outbound_check("https://93.184.216.34/fhir/r4", allowance)
    outbound_check("https://93.184.216.34:443/fhir/r4/", allowance)
    for url in (
        "https://93.184.216.34/fhir",
        "https://93.184.216.34/fhir/r4b",
        "https://93.184.216.34:8443/fhir/r4",
        "http://93.184.216.34/fhir/r4",
        "ftp://93.184.216.34/fhir/r4",
    ):
        with pytest.raises(OutboundRefused):
            outbound_check(url, allowance)
