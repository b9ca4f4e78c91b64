"""The production stack's Orthanc, without Docker: Debian's Orthanc (the package the
image in deploy/orthanc/ installs) started with the very configuration file the
compose file mounts, only its ports and storage moved, then queried through the
app's own PACS adapter with the calling AE title the compose file gives the app."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import requests
import yaml

from ordering.demo_studies import DEMO_ISSUER
from ordering.pacs.dimse import echo
from ordering.pacs.nodes import PacsNode
from ordering.pacs.query import Failure, NodeAnswer, StudyQuery
from ordering.pacs.search import node_find
from tests.orthanc import ORTHANC_BIN, free_port, study_file

ROOT = Path(__file__).resolve().parent.parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
PATIENT = "COMPOSEPAT01"


def _mounted_config() -> Path:
    """The host file the compose file mounts as Orthanc's configuration."""
    orthanc = COMPOSE["services"]["orthanc"]
    command = orthanc.get("command") or ["/etc/orthanc/orthanc.json"]
    config_in_container = command[-1]
    for volume in orthanc["volumes"]:
        source, _, rest = volume.partition(":")
        if rest.split(":")[0] == config_in_container:
            return (ROOT / source).resolve()
    raise AssertionError(f"the compose file mounts no file at {config_in_container}")


def _app_env() -> dict[str, str]:
    return {k: str(v) for k, v in COMPOSE["services"]["web"]["environment"].items()}


class ComposeOrthanc:
    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="compose-orthanc-"))
        self.config = json.loads(_mounted_config().read_text())
        self.http_port, self.dicom_port = free_port(), free_port()
        # Only what cannot be the same on a shared test machine changes.
        moved = {
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "StorageDirectory": str(self.workdir / "db"),
            "IndexDirectory": str(self.workdir / "db"),
        }
        assert set(moved) <= set(self.config)
        (self.workdir / "orthanc.json").write_text(json.dumps({**self.config, **moved}))
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.workdir / "orthanc.log").open("wb")
        self.process = subprocess.Popen(
            [ORTHANC_BIN, str(self.workdir / "orthanc.json")],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TCP_NODELAY": "1"},
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.workdir / "orthanc.log").read_text()[-2000:]
            try:
                if requests.get(f"{self.url}/system", timeout=0.5).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError("Orthanc did not answer /system within 20 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


@pytest.fixture(scope="module")
def orthanc() -> Iterator[ComposeOrthanc]:
    server = ComposeOrthanc()
    server.start()
    study = study_file(patient_id=PATIENT, issuer=DEMO_ISSUER, study_date="20250301", modality="CT")
    requests.post(f"{server.url}/instances", data=study, timeout=10).raise_for_status()
    yield server
    server.stop()


def app_node(orthanc: ComposeOrthanc) -> PacsNode:
    """The node the app's settings build from the compose file's PACS_* values."""
    env = _app_env()
    return PacsNode(
        name="compose",
        host="127.0.0.1",
        port=orthanc.dicom_port,
        called_aet=env["PACS_CALLED_AET"],
        calling_aet=env["PACS_CALLING_AET"],
    )


def find(node: PacsNode) -> NodeAnswer:
    query = StudyQuery(patient_id=PATIENT, issuer=DEMO_ISSUER)
    return node_find(node, query, deadline=time.monotonic() + 5)


def test_the_compose_orthanc_answers_the_apps_c_find(orthanc: ComposeOrthanc) -> None:
    answer = find(app_node(orthanc))
    assert answer.ok, answer
    [study] = answer.studies
    assert study.modalities == ("CT",)


def test_the_compose_orthanc_answers_the_apps_c_echo(orthanc: ComposeOrthanc) -> None:
    assert echo(app_node(orthanc)).ok


def test_the_compose_orthanc_refuses_an_unknown_calling_ae(orthanc: ComposeOrthanc) -> None:
    stranger = replace(app_node(orthanc), calling_aet="STRANGER")
    answer = find(stranger)
    # Orthanc rejects the association itself: not a timeout, not an empty answer.
    assert not answer.ok and answer.failure is Failure.REJECTED, answer
    assert not echo(stranger).ok


def test_the_compose_orthanc_refuses_a_wrong_called_ae(orthanc: ComposeOrthanc) -> None:
    assert not find(replace(app_node(orthanc), called_aet="NOTORTHANC")).ok


def test_the_compose_orthanc_serves_dicomweb(orthanc: ComposeOrthanc) -> None:
    response = requests.get(
        f"{orthanc.url}/dicom-web/studies", params={"PatientID": PATIENT}, timeout=5
    )
    assert response.status_code == 200
    [study] = response.json()
    assert study["00100020"]["Value"] == [PATIENT]
