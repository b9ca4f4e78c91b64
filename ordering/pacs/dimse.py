"""DIMSE client operations (pynetdicom), with explicit timeouts on every association."""

from __future__ import annotations

import logging
import socket
import ssl
import time
from dataclasses import dataclass

from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StudyRootQueryRetrieveInformationModelFind,
    Verification,
)

from ordering.pacs.nodes import PacsNode
from ordering.pacs.query import (
    Failure,
    NodeAnswer,
    StudyQuery,
    StudyRecord,
    record_from_answer,
    study_query_dataset,
)

logger = logging.getLogger(__name__)

_SUCCESS = 0x0000
_PENDING = frozenset({0xFF00, 0xFF01})
_CANCEL = 0xFE00


def _set_nodelay(event: evt.Event) -> None:
    # Nagle's algorithm adds 40-90 ms to each small DIMSE exchange (NOTES-PACS.md).
    assoc_socket = event.assoc.dul.socket
    if assoc_socket is not None and assoc_socket.socket is not None:
        assoc_socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


NODELAY_HANDLERS: list[evt.EventHandlerType] = [(evt.EVT_CONN_OPEN, _set_nodelay)]


def client_ae(node: PacsNode, *, budget: float | None = None) -> AE:
    """An AE whose every timeout is the node's own, never longer than what is left."""
    cap = budget if budget is not None else float("inf")
    ae = AE(ae_title=node.calling_aet)
    ae.acse_timeout = min(node.acse_timeout, cap)
    ae.dimse_timeout = min(node.dimse_timeout, cap)
    ae.network_timeout = min(node.network_timeout, cap)
    ae.connection_timeout = min(node.network_timeout, cap)
    return ae


def _tls_args(node: PacsNode) -> tuple[ssl.SSLContext, str] | None:
    if not node.tls:
        return None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=node.tls_ca_file or None)
    if node.tls_cert_file:
        context.load_cert_chain(node.tls_cert_file, node.tls_key_file or None)
    return context, node.host


def _associate(ae: AE, node: PacsNode) -> Association:
    return ae.associate(
        node.host,
        node.port,
        ae_title=node.called_aet,
        evt_handlers=NODELAY_HANDLERS,
        tls_args=_tls_args(node),
    )


def _not_established(
    assoc: Association, waited: float, acse_timeout: float, *, tls: bool
) -> tuple[Failure, str]:
    if assoc.is_rejected:
        return Failure.REJECTED, "association rejected"
    if waited < acse_timeout / 2 and tls:
        # A failed handshake (untrusted certificate) is logged, not raised, too.
        return Failure.TLS, "TLS handshake failed or connection refused"
    if waited < acse_timeout / 2:
        # pynetdicom logs a refused TCP connection rather than raising it, and
        # reports it as an abort: a quick abort means nobody listened.
        return Failure.UNREACHABLE, "connection refused or closed"
    return Failure.TIMEOUT, "no association answer"


@dataclass(frozen=True)
class EchoResult:
    ok: bool
    detail: str


def echo(node: PacsNode) -> EchoResult:
    """C-ECHO the node: is it there, and does it accept us?"""
    ae = client_ae(node)
    ae.add_requested_context(Verification)
    try:
        assoc = _associate(ae, node)
    except (OSError, ssl.SSLError) as exc:
        return EchoResult(False, f"connection failed: {exc.__class__.__name__}")
    if not assoc.is_established:
        reason = "association rejected" if assoc.is_rejected else "no answer"
        return EchoResult(False, reason)
    try:
        status = assoc.send_c_echo()
    finally:
        assoc.release()
    if status and getattr(status, "Status", None) == 0x0000:
        return EchoResult(True, "echo ok")
    return EchoResult(False, "echo failed")


def find_studies(node: PacsNode, query: StudyQuery, *, deadline: float) -> NodeAnswer:
    """C-FIND, Study Root, STUDY level, on a fresh association.

    A fresh association per query: reusing one loses answers now and then with
    pynetdicom 3.0.4 (NOTES-PACS.md). The answer counts only if the final
    success status arrived; anything else is a failure, never "no studies".
    """
    started = time.monotonic()

    def failed(failure: Failure, detail: str) -> NodeAnswer:
        elapsed = (time.monotonic() - started) * 1000
        return NodeAnswer(node.name, ok=False, failure=failure, detail=detail, elapsed_ms=elapsed)

    remaining = deadline - started
    if remaining <= 0:
        return failed(Failure.TIMEOUT, "no time left")
    ae = client_ae(node, budget=remaining)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    try:
        assoc = _associate(ae, node)
    except ssl.SSLError as exc:
        return failed(Failure.TLS, exc.__class__.__name__)
    except OSError as exc:
        return failed(Failure.UNREACHABLE, exc.__class__.__name__)
    if not assoc.is_established:
        waited = time.monotonic() - started
        failure, detail = _not_established(
            assoc, waited, min(node.acse_timeout, remaining), tls=node.tls
        )
        return failed(failure, detail)
    records: list[StudyRecord] = []
    filtered_out = 0
    final: int | None = None
    last_heard = time.monotonic()
    try:
        responses = assoc.send_c_find(
            study_query_dataset(query), StudyRootQueryRetrieveInformationModelFind
        )
        for status, identifier in responses:
            code = getattr(status, "Status", None)
            if code is None:
                # No status dataset at all: DIMSE timeout, abort or a broken PDU.
                if time.monotonic() - last_heard >= min(node.dimse_timeout, remaining) * 0.9:
                    assoc.abort()
                    return failed(Failure.TIMEOUT, "no answer to the query")
                break
            last_heard = time.monotonic()
            if code in _PENDING:
                if identifier is not None:
                    record = record_from_answer(identifier, query, node.name)
                    if record is None:
                        filtered_out += 1
                    else:
                        records.append(record)
                if time.monotonic() > deadline:
                    assoc.abort()
                    return failed(Failure.TIMEOUT, "over budget")
                continue
            final = int(code)
            break
    except Exception as exc:  # a stale or broken association raises various types
        assoc.abort()
        logger.warning("C-FIND on %s failed: %s", node.name, exc.__class__.__name__)
        return failed(Failure.ERROR, exc.__class__.__name__)
    if assoc.is_established:
        assoc.release()
    if final is None:
        if assoc.is_aborted:
            return failed(Failure.ABORTED, "association aborted")
        return failed(Failure.INCOMPLETE, "no final status")
    capped = bool(node.max_answers) and len(records) + filtered_out >= node.max_answers
    if final == _CANCEL and records:
        # Orthanc (LimitFindResults) and others stop a long answer with Cancel: the
        # answers before it are real, but not all of them.
        capped = True
    elif final != _SUCCESS:
        return failed(Failure.FAILURE_STATUS, f"0x{final:04X}")
    return NodeAnswer(
        node.name,
        ok=True,
        studies=tuple(records),
        capped=capped,
        filtered_out=filtered_out,
        elapsed_ms=(time.monotonic() - started) * 1000,
    )
