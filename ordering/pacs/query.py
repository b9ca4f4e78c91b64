"""What a prior-exam query asks and what a PACS answers, whatever the transport.

Both the DIMSE (C-FIND) and the DICOMweb (QIDO-RS) clients turn each answer
into a pydicom Dataset and read it here, so that matching, character sets and
odd values are handled once.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from pydicom.dataset import Dataset

logger = logging.getLogger(__name__)

# Modality codes that mean the same exam family to us: older plain films are CR.
_MODALITY_ALIASES = {"CR": "DX"}


def same_modality(code: str) -> str:
    code = code.strip().upper()
    return _MODALITY_ALIASES.get(code, code)


@dataclass(frozen=True)
class StudyQuery:
    """A patient-scoped study query. Names are never matched on."""

    patient_id: str
    issuer: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    modalities: frozenset[str] = frozenset()

    def date_range(self) -> str:
        """The DICOM range form; ranges, not wildcards, are what PACS answer reliably."""
        if self.date_from is None and self.date_to is None:
            return ""
        start = self.date_from.strftime("%Y%m%d") if self.date_from else ""
        end = self.date_to.strftime("%Y%m%d") if self.date_to else ""
        return f"{start}-{end}"

    def single_modality(self) -> str:
        """The one modality to send as a matching key; several are filtered on our side."""
        return next(iter(self.modalities)) if len(self.modalities) == 1 else ""


@dataclass(frozen=True)
class StudyRecord:
    """One study as a PACS described it. Holds no patient identifier."""

    study_uid: str
    study_date: date | None
    description: str = ""
    modalities: tuple[str, ...] = ()
    accession_number: str = ""
    institution: str = ""
    body_part: str = ""
    node: str = ""


class Failure(StrEnum):
    """Why a node gave no usable answer; the lookup turns these into sentences."""

    UNREACHABLE = "unreachable"
    REJECTED = "rejected"
    TIMEOUT = "timeout"
    ABORTED = "aborted"
    FAILURE_STATUS = "failure_status"
    INCOMPLETE = "incomplete"
    HTTP_STATUS = "http_status"
    BAD_ANSWER = "bad_answer"
    TLS = "tls"
    ERROR = "error"
    # Not asked: the node failed moments ago and its breaker is open (pacs/breaker.py).
    CIRCUIT_OPEN = "circuit_open"


@dataclass(frozen=True)
class NodeAnswer:
    node: str
    ok: bool
    studies: tuple[StudyRecord, ...] = ()
    capped: bool = False
    failure: Failure | None = None
    # Not for patients' eyes: a status code or an exception class name.
    detail: str = ""
    elapsed_ms: float = 0.0
    # Answers dropped because they did not match what we asked (PACS that ignore a key).
    filtered_out: int = field(default=0)


def parse_da(value: object) -> date | None:
    """A DICOM DA value, or None when missing or malformed (some PACS send odd ones)."""
    text = str(value or "").strip().replace(".", "")  # ACR-NEMA wrote 2024.01.31
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def _text(ds: Dataset, keyword: str) -> str:
    """A text value decoded with the answer's own character set, never raising."""
    try:
        with warnings.catch_warnings():
            # pydicom warns (and falls back) on unknown character sets or bad bytes.
            warnings.simplefilter("ignore")
            value = ds.get(keyword, "")
            if value is None:
                return ""
            if isinstance(value, bytes):
                return value.decode("latin-1").strip()
            return str(value).strip()
    except Exception as exc:  # a malformed element must not sink the whole answer
        logger.warning("unreadable %s in a PACS answer: %s", keyword, exc.__class__.__name__)
        return ""


def _multi(ds: Dataset, keyword: str) -> tuple[str, ...]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = ds.get(keyword)
    except Exception:  # same reasoning as _text
        return ()
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        items: Sequence[object] = value.split("\\")
    elif isinstance(value, Sequence):
        items = value
    else:
        items = [value]
    return tuple(code for code in (same_modality(str(v)) for v in items) if code)


def study_query_dataset(query: StudyQuery) -> Dataset:
    """The C-FIND identifier: Study Root, STUDY level, matching and return keys."""
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientID = query.patient_id
    ds.IssuerOfPatientID = query.issuer or ""
    ds.StudyDate = query.date_range()
    ds.ModalitiesInStudy = query.single_modality()
    ds.StudyInstanceUID = ""
    ds.StudyDescription = ""
    ds.AccessionNumber = ""
    ds.InstitutionName = ""
    ds.BodyPartExamined = ""
    return ds


def record_from_answer(ds: Dataset, query: StudyQuery, node: str) -> StudyRecord | None:
    """The study an answer describes, or None if it is not one we asked for.

    The PACS's matching is not trusted: the patient, issuer, dates and modalities
    are checked again here, because some PACS ignore a key or match loosely.
    """
    study_uid = _text(ds, "StudyInstanceUID")
    if not study_uid:
        return None
    if "PatientID" in ds and _text(ds, "PatientID") != query.patient_id:
        return None
    issuer = _text(ds, "IssuerOfPatientID")
    if query.issuer and issuer and issuer != query.issuer:
        return None
    study_date = parse_da(_text(ds, "StudyDate"))
    if study_date is not None:
        if query.date_from and study_date < query.date_from:
            return None
        if query.date_to and study_date > query.date_to:
            return None
    modalities = _multi(ds, "ModalitiesInStudy")
    wanted = {same_modality(code) for code in query.modalities}
    # A study whose modalities the PACS did not say cannot be shown to match: left out.
    if wanted and not wanted & set(modalities):
        return None
    return StudyRecord(
        study_uid=study_uid,
        study_date=study_date,
        description=_text(ds, "StudyDescription"),
        modalities=modalities,
        accession_number=_text(ds, "AccessionNumber"),
        institution=_text(ds, "InstitutionName"),
        body_part=_text(ds, "BodyPartExamined").upper(),
        node=node,
    )
