"""QIDO-RS (DICOMweb) study search: the same query as C-FIND, over HTTP."""

from __future__ import annotations

import logging
import time
from typing import Any

import requests
from pydicom.dataset import Dataset

from ordering.pacs.nodes import PacsNode
from ordering.pacs.query import Failure, NodeAnswer, StudyQuery, StudyRecord, record_from_answer

logger = logging.getLogger(__name__)

_RETURN_KEYS = (
    "StudyDescription",
    "ModalitiesInStudy",
    "AccessionNumber",
    "InstitutionName",
    "BodyPartExamined",
    "IssuerOfPatientID",
)


def _params(node: PacsNode, query: StudyQuery) -> list[tuple[str, str]]:
    params = [("PatientID", query.patient_id)]
    if query.issuer:
        params.append(("IssuerOfPatientID", query.issuer))
    if query.date_range():
        params.append(("StudyDate", query.date_range()))
    if query.single_modality():
        params.append(("ModalitiesInStudy", query.single_modality()))
    params.extend(("includefield", key) for key in _RETURN_KEYS)
    if node.max_answers:
        params.append(("limit", str(node.max_answers)))
    return params


def _says_more_results(response: requests.Response) -> bool:
    # PS3.18: a server that truncates answers a 299 warning about additional results.
    warning = response.headers.get("Warning", "")
    return "299" in warning and "additional" in warning.lower()


def ping(node: PacsNode) -> tuple[bool, str]:
    """Is the DICOMweb service there? Any HTTP answer below 500 from its root says so."""
    try:
        response = requests.get(
            node.url,
            timeout=(node.network_timeout, node.dimse_timeout),
            verify=node.tls_ca_file or True,
            cert=(node.tls_cert_file, node.tls_key_file) if node.tls_cert_file else None,
        )
    except requests.RequestException as exc:
        return False, f"connection failed: {exc.__class__.__name__}"
    if response.status_code >= 500:
        return False, f"HTTP {response.status_code}"
    return True, "http ok"


def find_studies_qido(
    node: PacsNode, query: StudyQuery, *, deadline: float, session: requests.Session | None = None
) -> NodeAnswer:
    started = time.monotonic()

    def failed(failure: Failure, detail: str) -> NodeAnswer:
        elapsed = (time.monotonic() - started) * 1000
        return NodeAnswer(node.name, ok=False, failure=failure, detail=detail, elapsed_ms=elapsed)

    remaining = deadline - started
    if remaining <= 0:
        return failed(Failure.TIMEOUT, "no time left")
    http = session or requests.Session()
    verify: bool | str = node.tls_ca_file or True
    cert = (node.tls_cert_file, node.tls_key_file) if node.tls_cert_file else None
    try:
        response = http.get(
            f"{node.url.rstrip('/')}/studies",
            params=_params(node, query),
            headers={"Accept": "application/dicom+json"},
            timeout=(min(node.network_timeout, remaining), min(node.dimse_timeout, remaining)),
            verify=verify,
            cert=cert,
        )
    except requests.exceptions.SSLError as exc:
        return failed(Failure.TLS, exc.__class__.__name__)
    except requests.exceptions.Timeout as exc:
        return failed(Failure.TIMEOUT, exc.__class__.__name__)
    except requests.exceptions.ConnectionError as exc:
        return failed(Failure.UNREACHABLE, exc.__class__.__name__)
    except requests.RequestException as exc:
        return failed(Failure.ERROR, exc.__class__.__name__)
    finally:
        if session is None:
            http.close()
    if time.monotonic() > deadline:
        return failed(Failure.TIMEOUT, "over budget")
    if response.status_code == 204:
        items: list[Any] = []
    elif response.status_code == 200:
        try:
            items = response.json()
        except ValueError:
            return failed(Failure.BAD_ANSWER, "not JSON")
        if not isinstance(items, list):
            return failed(Failure.BAD_ANSWER, "not a JSON list")
    else:
        return failed(Failure.HTTP_STATUS, f"HTTP {response.status_code}")
    records: list[StudyRecord] = []
    filtered_out = 0
    for item in items:
        try:
            ds = Dataset.from_json(item)
        except Exception as exc:  # one malformed study must not sink the others
            logger.warning("unreadable QIDO-RS study on %s: %s", node.name, exc.__class__.__name__)
            filtered_out += 1
            continue
        record = record_from_answer(ds, query, node.name)
        if record is None:
            filtered_out += 1
        else:
            records.append(record)
    capped = _says_more_results(response) or (
        bool(node.max_answers) and len(items) >= node.max_answers
    )
    return NodeAnswer(
        node.name,
        ok=True,
        studies=tuple(records),
        capped=capped,
        filtered_out=filtered_out,
        elapsed_ms=(time.monotonic() - started) * 1000,
    )
