"""A small C-FIND / C-ECHO SCP over a fixed list of studies (the demo PACS).

Handlers take their data as arguments, as pynetdicom's apps/qrscp does:
``(evt.EVT_C_FIND, handle_find, [studies])``. It runs as its own process
(``manage.py pacs_demo_serve``), never inside the web or a Celery worker.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StudyRootQueryRetrieveInformationModelFind,
    Verification,
)

from ordering.pacs.dimse import NODELAY_HANDLERS
from ordering.pacs.query import parse_da

_PENDING = 0xFF00
_SUCCESS = 0x0000
_CANCEL = 0xFE00
_UNABLE_TO_PROCESS = 0xC000
_IDENTIFIER_MISMATCH = 0xA900


def _values(element_value: object) -> list[str]:
    if element_value is None or element_value == "":
        return []
    if isinstance(element_value, str):
        return [part for part in element_value.split("\\") if part]
    if isinstance(element_value, list | tuple) or hasattr(element_value, "__iter__"):
        return [str(part) for part in element_value]
    return [str(element_value)]


def _date_matches(wanted: str, value: str) -> bool:
    if not wanted:
        return True
    if "-" not in wanted:
        return wanted == value
    start, _, end = wanted.partition("-")
    day = parse_da(value)
    if day is None:
        return False
    low = parse_da(start) if start else None
    high = parse_da(end) if end else None
    return (low is None or day >= low) and (high is None or day <= high)


def study_matches(query: Dataset, study: Dataset) -> bool:
    """Single-value, list-of-UID, date-range and any-of-modalities matching; empty = universal."""
    for keyword in ("PatientID", "IssuerOfPatientID", "AccessionNumber"):
        wanted = str(query.get(keyword, "") or "")
        if wanted and wanted != str(study.get(keyword, "")):
            return False
    uids = _values(query.get("StudyInstanceUID", ""))
    if uids and str(study.StudyInstanceUID) not in uids:
        return False
    if not _date_matches(str(query.get("StudyDate", "") or ""), str(study.get("StudyDate", ""))):
        return False
    modalities = set(_values(query.get("ModalitiesInStudy", "")))
    return not modalities or bool(modalities & set(_values(study.get("ModalitiesInStudy", ""))))


def _answer(query: Dataset, study: Dataset) -> Dataset:
    """The requested keys only, filled from the study, as C-FIND answers them."""
    answer = Dataset()
    answer.SpecificCharacterSet = study.get("SpecificCharacterSet", "ISO_IR 192")
    answer.QueryRetrieveLevel = "STUDY"
    for element in query:
        if element.keyword in ("QueryRetrieveLevel", "SpecificCharacterSet"):
            continue
        if element.keyword in study:
            answer[element.tag] = study[element.tag]
        else:
            answer[element.tag] = element
    return answer


def handle_find(event: evt.Event, studies: list[Dataset]) -> Iterator[tuple[int, Dataset | None]]:
    query = event.identifier
    if query.get("QueryRetrieveLevel") != "STUDY":
        yield _IDENTIFIER_MISMATCH, None
        return
    for study in studies:
        if event.is_cancelled:
            yield _CANCEL, None
            return
        if study_matches(query, study):
            yield _PENDING, _answer(query, study)
    yield _SUCCESS, None


def handle_echo(event: evt.Event) -> int:
    return _SUCCESS


def demo_ae(called_aet: str, *, timeout: float = 30.0) -> AE:
    ae = AE(ae_title=called_aet)
    ae.require_called_aet = True
    ae.acse_timeout = timeout
    ae.dimse_timeout = timeout
    ae.network_timeout = timeout
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
    ae.add_supported_context(Verification)
    return ae


def serve(
    *, host: str, port: int, called_aet: str, studies: list[Dataset], block: bool = True
) -> object:
    """Listen for C-FIND and C-ECHO; blocks unless ``block`` is False (returns the server)."""
    handlers: list[evt.EventHandlerType] = [
        *NODELAY_HANDLERS,
        (evt.EVT_C_FIND, handle_find, [studies]),
        (evt.EVT_C_ECHO, handle_echo),
    ]
    return demo_ae(called_aet).start_server((host, port), block=block, evt_handlers=handlers)
