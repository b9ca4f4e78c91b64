"""Real Orthanc instances loaded with generated studies, shared by the PACS tests.

Three PACS: ``main`` (UTF-8, DICOMweb), ``second`` (shares one study with main,
for merging) and ``capped`` (LimitFindResults=3, Latin-1 answers). All dates
are relative to TODAY, two years back.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta

import pytest
from pydicom.uid import generate_uid

from guidelines.catalogue import procedure_catalogue_load
from ordering.pacs.nodes import PacsNode
from tests.orthanc import OrthancServer, study_file

TODAY = date(2025, 6, 15)
INS_OID = "1.2.250.1.213.1.4.8"  # the INS's issuer OID
ALICE = "1234567890123"
BOB = "2345678901234"
CAPPED_PATIENT = "3456789012345"
GREEK = "4567890123456"
LATIN = "5678901234567"
UNDATED = "6789012345678"
SHARED_UID = generate_uid()


def ago(days: int) -> str:
    return (TODAY - timedelta(days=days)).strftime("%Y%m%d")


# (days ago, modality, description, body part, institution)
ALICE_STUDIES = [
    (30, "CT", "SCANNER CEREBRAL SANS INJECTION", "HEAD", "CHU Rennes"),
    (100, "CT", "ANGIOSCANNER THORACIQUE", "CHEST", "CHU Rennes"),
    (200, "MR", "IRM DU GENOU DROIT", "KNEE", "Clinique Saint-Laurent"),
    (50, "CT", "SCANNER DES SINUS", "SINUS", "CHU Rennes"),
    (400, "DX", "RADIOGRAPHIE THORAX FACE", "CHEST", "CH Vitré"),
    (700, "US", "ECHOGRAPHIE ABDOMINALE", "ABDOMEN", "CH Vitré"),
]


@dataclass
class Pacs:
    main: OrthancServer
    second: OrthancServer
    capped: OrthancServer


def _main_files() -> list[bytes]:
    files = []
    for index, (days, modality, description, part, institution) in enumerate(ALICE_STUDIES):
        files.append(
            study_file(
                patient_id=ALICE,
                issuer=INS_OID,
                study_date=ago(days),
                modality=modality,
                description=description,
                body_part=part,
                institution=institution,
                study_uid=SHARED_UID if index == 0 else None,
            )
        )
    for days, modality in [(10, "CT"), (300, "MR"), (500, "US")]:
        files.append(
            study_file(
                patient_id=BOB,
                issuer=INS_OID,
                study_date=ago(days),
                modality=modality,
                description="EXAMEN DE BOB",
            )
        )
    # The same local number in another hospital's domain: another person.
    files.append(
        study_file(
            patient_id=ALICE,
            issuer="HOPITAL-VOISIN",
            study_date=ago(20),
            modality="CT",
            description="AUTRE PATIENT",
        )
    )
    files.append(
        study_file(
            patient_id=GREEK,
            issuer=INS_OID,
            study_date=ago(15),
            modality="CT",
            description="Αξονική τομογραφία θώρακα",
            patient_name="Γιάννης^Παπαδόπουλος",
            charset="ISO_IR 192",
        )
    )
    files.append(
        study_file(
            patient_id=UNDATED,
            issuer=INS_OID,
            study_date="",
            modality="DX",
            description="RADIO SANS DATE",
        )
    )
    return files


def _second_files() -> list[bytes]:
    days, modality, description, part, institution = ALICE_STUDIES[0]
    return [
        study_file(
            patient_id=ALICE,
            issuer=INS_OID,
            study_date=ago(days),
            modality=modality,
            description=description,
            body_part=part,
            institution=institution,
            study_uid=SHARED_UID,
        ),
        study_file(
            patient_id=ALICE,
            issuer=INS_OID,
            study_date=ago(60),
            modality="MR",
            description="IRM CEREBRALE",
            body_part="BRAIN",
            institution="Clinique de l'Ouest",
        ),
    ]


def _capped_files() -> list[bytes]:
    files = [
        study_file(
            patient_id=CAPPED_PATIENT,
            issuer=INS_OID,
            study_date=ago(20 + 30 * n),
            modality="DX",
            description=f"RADIOGRAPHIE {n}",
        )
        for n in range(6)
    ]
    files.append(
        study_file(
            patient_id=LATIN,
            issuer=INS_OID,
            study_date=ago(45),
            modality="US",
            description="ÉCHOGRAPHIE DE L'ÉPAULE",
            institution="Clinique Sainte-Thérèse",
            charset="ISO_IR 100",
            patient_name="LÉGER^Zoé",
        )
    )
    return files


@pytest.fixture(scope="session")
def pacs() -> Iterator[Pacs]:
    servers = Pacs(
        main=OrthancServer(aet="MAINPACS"),
        second=OrthancServer(aet="SECONDPACS"),
        capped=OrthancServer(aet="CAPPEDPACS", max_answers=3, default_encoding="Latin1"),
    )
    everyone = (servers.main, servers.second, servers.capped)
    try:
        for server in everyone:
            server.start()
        servers.main.upload_many(_main_files())
        servers.second.upload_many(_second_files())
        servers.capped.upload_many(_capped_files())
        yield servers
    finally:
        # SIGTERM takes Orthanc 3-4 s: stop all three side by side.
        for server in everyone:
            server.terminate()
        for server in everyone:
            server.cleanup()


def dimse_node(server: OrthancServer, name: str = "main", **changes: object) -> PacsNode:
    node = PacsNode(
        name=name,
        host="127.0.0.1",
        port=server.dicom_port,
        called_aet=server.aet,
        calling_aet="IMAGINGCDS",
    )
    return replace(node, **changes)  # type: ignore[arg-type]


def qido_node(server: OrthancServer, name: str = "main-web", **changes: object) -> PacsNode:
    node = PacsNode(
        name=name,
        host="",
        port=0,
        called_aet="",
        calling_aet="IMAGINGCDS",
        transport="dicomweb",
        url=f"{server.url}/dicom-web",
    )
    return replace(node, **changes)  # type: ignore[arg-type]


class SilentPeer:
    """A real TCP peer that accepts connections and never says a word."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self._closed = threading.Event()
        self.port = int(self.sock.getsockname()[1])
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted.append(conn)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/dicom-web"

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=2)
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def silent_peer() -> Iterator[SilentPeer]:
    peer = SilentPeer()
    yield peer
    peer.close()


@pytest.fixture
def catalogue(db: None) -> None:
    procedure_catalogue_load()


def node_at(port: int, aet: str = "ORTHANC", name: str = "elsewhere") -> PacsNode:
    return PacsNode(
        name=name, host="127.0.0.1", port=port, called_aet=aet, calling_aet="IMAGINGCDS"
    )
