"""DIMSE client operations (pynetdicom), with explicit timeouts on every association."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from ordering.pacs.nodes import PacsNode


def _set_nodelay(event: evt.Event) -> None:
    # Nagle's algorithm adds 40-90 ms to each small DIMSE exchange (NOTES-PACS.md).
    assoc_socket = event.assoc.dul.socket
    if assoc_socket is not None and assoc_socket.socket is not None:
        assoc_socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


NODELAY_HANDLERS: list[evt.EventHandlerType] = [(evt.EVT_CONN_OPEN, _set_nodelay)]


def client_ae(node: PacsNode) -> AE:
    ae = AE(ae_title=node.calling_aet)
    ae.acse_timeout = node.acse_timeout
    ae.dimse_timeout = node.dimse_timeout
    ae.network_timeout = node.network_timeout
    ae.connection_timeout = node.network_timeout
    return ae


@dataclass(frozen=True)
class EchoResult:
    ok: bool
    detail: str


def echo(node: PacsNode) -> EchoResult:
    """C-ECHO the node: is it there, and does it accept us?"""
    ae = client_ae(node)
    ae.add_requested_context(Verification)
    try:
        assoc = ae.associate(
            node.host, node.port, ae_title=node.called_aet, evt_handlers=NODELAY_HANDLERS
        )
    except OSError as exc:
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
