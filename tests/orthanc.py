"""Start and stop a real Orthanc (Debian's package) for a test session.

Each instance gets its own storage folder and free ports, is polled until its
REST API answers, and is stopped by its PID (never by name)."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

ORTHANC_BIN = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
PLUGINS_DIR = "/usr/share/orthanc/plugins"
SECONDARY_CAPTURE = UID("1.2.840.10008.5.1.4.1.1.7")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class OrthancServer:
    aet: str = "ORTHANC"
    check_called_aet: bool = True
    max_answers: int = 0
    dicomweb: bool = True
    default_encoding: str = "Utf8"
    # PEM certificate and key: the DICOM port then speaks TLS only.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    http_port: int = field(default_factory=free_port)
    dicom_port: int = field(default_factory=free_port)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="orthanc-")))
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def config(self) -> dict[str, object]:
        config: dict[str, object] = {
            "Name": f"test-{self.aet}",
            "StorageDirectory": str(self.workdir / "storage"),
            "IndexDirectory": str(self.workdir / "storage"),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": self.aet,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomAlwaysAllowFind": True,
            "DicomAlwaysAllowStore": True,
            "DicomAlwaysAllowEcho": True,
            "DicomCheckCalledAet": self.check_called_aet,
            "DefaultEncoding": self.default_encoding,
            "LimitFindResults": self.max_answers,
            "StableAge": 1,
            "Plugins": [PLUGINS_DIR] if self.dicomweb else [],
        }
        if self.tls_cert and self.tls_key:
            config.update(
                {
                    "DicomTlsEnabled": True,
                    "DicomTlsCertificate": str(self.tls_cert),
                    "DicomTlsPrivateKey": str(self.tls_key),
                    "DicomTlsTrustedCertificates": str(self.tls_cert),
                    "DicomTlsRemoteCertificateRequired": False,
                }
            )
        if self.dicomweb:
            config["DicomWeb"] = {"Enable": True, "Root": "/dicom-web/"}
        return config

    def start(self, timeout: float = 20.0) -> OrthancServer:
        assert Path(ORTHANC_BIN).exists(), (
            "Orthanc is not installed: `make test` installs it (apt-get install orthanc)."
        )
        config_path = self.workdir / "orthanc.json"
        config_path.write_text(json.dumps(self.config()))
        log = (self.workdir / "orthanc.log").open("wb")
        # dcmtk under Orthanc reads TCP_NODELAY from the environment (NOTES-PACS.md).
        env = {**os.environ, "TCP_NODELAY": "1"}
        self.process = subprocess.Popen(
            [ORTHANC_BIN, str(config_path)], stdout=log, stderr=subprocess.STDOUT, env=env
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"Orthanc exited with {self.process.returncode}: "
                    f"{(self.workdir / 'orthanc.log').read_text(errors='replace')[-2000:]}"
                )
            try:
                if requests.get(f"{self.url}/system", timeout=0.5).ok:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("Orthanc did not answer within the start-up timeout")

    def terminate(self) -> None:
        """Ask it to stop without waiting: several instances then stop side by side."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        if self.process is not None:
            self.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def upload(self, dicom_bytes: bytes) -> None:
        response = requests.post(f"{self.url}/instances", data=dicom_bytes, timeout=10)
        response.raise_for_status()

    def upload_many(self, files: list[bytes], *, workers: int = 8) -> None:
        """POST many instances side by side over kept-alive connections."""
        local = threading.local()

        def post(body: bytes) -> None:
            session = getattr(local, "session", None)
            if session is None:
                session = local.session = requests.Session()
            response = session.post(f"{self.url}/instances", data=body, timeout=30)
            response.raise_for_status()

        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(post, files))

    def study_count(self) -> int:
        return len(requests.get(f"{self.url}/studies", timeout=30).json())


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (openssl CLI), to be its own CA."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def study_file(
    *,
    patient_id: str,
    study_date: str,
    modality: str,
    description: str = "",
    issuer: str = "",
    body_part: str = "",
    institution: str = "",
    charset: str = "ISO_IR 192",
    study_uid: str | None = None,
    patient_name: str = "TEST^PATIENT",
) -> bytes:
    """A small DICOM file (one instance, no pixels) of a study, as a PACS would store it."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SECONDARY_CAPTURE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    if charset:
        ds.SpecificCharacterSet = charset
    ds.SOPClassUID = SECONDARY_CAPTURE
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientID = patient_id
    if issuer:
        ds.IssuerOfPatientID = issuer
    ds.PatientName = patient_name
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.StudyDate = study_date
    ds.StudyTime = "101500"
    ds.AccessionNumber = f"A{abs(hash(ds.StudyInstanceUID)) % 10**8:08d}"
    ds.Modality = modality
    ds.StudyDescription = description
    if body_part:
        ds.BodyPartExamined = body_part
    if institution:
        ds.InstitutionName = institution
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
