"""The DICOM Modality Worklist SCP: modalities C-FIND their day's exams here.

One listener serves every centre that chose the worklist; the called AE title says
which centre (Centre.worklist_ae_title), and an unknown one is refused. The
handler's dependencies come in as arguments, as pynetdicom's apps do. It runs as
its own process (``manage.py worklist_serve``), never in the web or a worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from django.db import close_old_connections
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    ModalityWorklistInformationFind,
    Verification,
)

from ordering.pacs.dimse import NODELAY_HANDLERS

logger = logging.getLogger(__name__)

_PENDING = 0xFF00
_SUCCESS = 0x0000
_CANCEL = 0xFE00
_UNABLE_TO_PROCESS = 0xC000
_IDENTIFIER_MISMATCH = 0xA900

# (called AE title, query identifier) → the matching items, or None: the query or
# the AE title cannot be answered.
Lookup = Callable[[str, Dataset], list[Dataset] | None]


def _called_ae_title(event: evt.Event) -> str:
    primitive: Any = event.assoc.requestor.primitive
    return str(primitive.called_ae_title).strip() if primitive is not None else ""


def handle_find(event: evt.Event, lookup: Lookup) -> Iterator[tuple[int, Dataset | None]]:
    try:
        items = lookup(_called_ae_title(event), event.identifier)
    except Exception:
        # A failure here is ours, not the modality's: say so with a status, never hang.
        logger.exception("worklist query failed")
        yield _UNABLE_TO_PROCESS, None
        return
    finally:
        close_old_connections()
    if items is None:
        yield _IDENTIFIER_MISMATCH, None
        return
    for item in items:
        if event.is_cancelled:
            yield _CANCEL, None
            return
        yield _PENDING, item
    yield _SUCCESS, None


def handle_echo(event: evt.Event) -> int:
    return _SUCCESS


def worklist_ae(*, timeout: float = 30.0) -> AE:
    # The AE title of the listener itself is not checked: each centre has its own,
    # read from the association request by the handler.
    ae = AE(ae_title="IMAGINGCDS")
    ae.require_called_aet = False
    ae.acse_timeout = timeout
    ae.dimse_timeout = timeout
    ae.network_timeout = timeout
    ae.add_supported_context(ModalityWorklistInformationFind)
    ae.add_supported_context(Verification)
    return ae


def worklist_serve(*, host: str, port: int, lookup: Lookup, block: bool = True) -> object:
    handlers: list[evt.EventHandlerType] = [
        *NODELAY_HANDLERS,
        (evt.EVT_C_FIND, handle_find, [lookup]),
        (evt.EVT_C_ECHO, handle_echo),
    ]
    return worklist_ae().start_server((host, port), block=block, evt_handlers=handlers)
