"""Start and stop a real Orthanc (Debian's package) for a test session.

Each instance gets its own storage folder and free ports, is polled until its
REST API answers, and is stopped by its PID (never by name)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ORTHANC_BIN = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
PLUGINS_DIR = "/usr/share/orthanc/plugins"


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
            "DefaultEncoding": "Utf8",
            "LimitFindResults": self.max_answers,
            "StableAge": 1,
            "Plugins": [PLUGINS_DIR] if self.dicomweb else [],
        }
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

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
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
