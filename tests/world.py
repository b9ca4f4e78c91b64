"""A world for the prescriber flow: the demo territory and rule pack, real Orthanc
holding studies of the test patients, real Redis and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from ordering.demo_studies import DEMO_ISSUER
from ordering.pacs.nodes import PacsNode
from tests.orthanc import OrthancServer, study_file

# Local identifiers of test patients (the demo issuer is the local one in settings).
WITH_MAMMOGRAM = "TESTPAT01"
WITHOUT_PRIORS = "TESTPAT02"
# Identity traits the order carries (fictional): the page's form asks them, REST
# signing takes them as patient_birth_name / patient_given_names.
PATIENT_NAMES = {"birth_name": "ESSAI-TESTNOM", "given_names": "Camille Testprénom"}
API_PATIENT_NAMES = {
    "patient_birth_name": PATIENT_NAMES["birth_name"],
    "patient_given_names": PATIENT_NAMES["given_names"],
}
# The patient of the REST API tests, as `evaluate` takes it.
API_PATIENT = {
    "identifier": WITHOUT_PRIORS,
    "identifier_kind": "local",
    "birth_date": "1979-05-02",
    "sex": "F",
    "postcode": "35000",
    "pregnancy": "no",
}


@dataclass
class FlowPacs:
    server: OrthancServer

    def node(self) -> PacsNode:
        return PacsNode(
            name="test-pacs",
            host="127.0.0.1",
            port=self.server.dicom_port,
            called_aet=self.server.aet,
            calling_aet="IMAGINGCDS",
        )


@pytest.fixture(scope="session")
def flow_pacs() -> Iterator[FlowPacs]:
    server = OrthancServer(dicomweb=False).start()
    ago = (timezone.localdate() - timedelta(days=420)).strftime("%Y%m%d")
    server.upload(
        study_file(
            patient_id=WITH_MAMMOGRAM,
            issuer=DEMO_ISSUER,
            study_date=ago,
            modality="MG",
            description="MAMMOGRAPHIE BILATERALE",
            body_part="BREAST",
            institution="Imagerie du Thabor",
        )
    )
    yield FlowPacs(server)
    server.cleanup()


@pytest.fixture
def world(db: None, settings: object, flow_pacs: FlowPacs, clear_cache: None) -> FlowPacs:
    # Three days of slots are enough for the flow and keep each test quick.
    call_command("demo_load", "--force", "--quiet-accounts", "--days", "3", stdout=StringIO())
    settings.PACS_NODES = [flow_pacs.node()]  # type: ignore[attr-defined]
    return flow_pacs
