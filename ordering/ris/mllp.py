"""Send one HL7 v2 message over MLLP (a 0x0B byte, the message, 0x1C 0x0D) and read
the RIS's ACK, within a time budget and a size cap. Every failure is an MllpError
whose text says what went wrong in words for the centre's manager; neither the
message nor the answer is ever logged (they name the patient)."""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass

from hl7apy.exceptions import HL7apyException
from hl7apy.parser import parse_message

START = b"\x0b"
END = b"\x1c\x0d"


class MllpError(Exception):
    """The message may not have arrived: worth another attempt later."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    use_tls: bool = False
    tls_ca_file: str = ""


@dataclass(frozen=True)
class Ack:
    # AA, AE or AR (or CA / CE / CR in enhanced mode).
    code: str
    # MSA-3 and the ERR segments' texts, as the RIS wrote them.
    text: str

    @property
    def accepted(self) -> bool:
        return self.code in {"AA", "CA"}


def frame(payload: str) -> bytes:
    return START + payload.encode("utf-8") + END


def _connect(endpoint: Endpoint, timeout: float) -> socket.socket:
    try:
        raw = socket.create_connection((endpoint.host, endpoint.port), timeout=timeout)
    except TimeoutError:
        raise MllpError("connection timed out") from None
    except OSError as error:
        raise MllpError(f"cannot connect ({error.strerror or type(error).__name__})") from None
    if not endpoint.use_tls:
        return raw
    context = ssl.create_default_context(cafile=endpoint.tls_ca_file or None)
    try:
        return context.wrap_socket(raw, server_hostname=endpoint.host)
    except ssl.SSLError as error:
        raw.close()
        raise MllpError(f"TLS handshake failed ({error.reason or type(error).__name__})") from None
    except OSError as error:
        raw.close()
        raise MllpError(f"TLS handshake failed ({type(error).__name__})") from None


def _read_frame(sock: socket.socket, deadline: float, max_bytes: int) -> bytes:
    buffer = b""
    while END not in buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise MllpError("no complete ACK within the time allowed")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(8192)
        except TimeoutError:
            raise MllpError("no complete ACK within the time allowed") from None
        except OSError as error:
            reason = type(error).__name__
            raise MllpError(f"connection lost while reading the ACK ({reason})") from None
        if not chunk:
            raise MllpError("the RIS closed the connection without an ACK")
        buffer += chunk
        if len(buffer) > max_bytes:
            raise MllpError(f"the ACK is larger than {max_bytes} bytes")
    start = buffer.find(START)
    end = buffer.find(END)
    if start < 0 or start > end:
        raise MllpError("the answer is not an MLLP frame")
    return buffer[start + 1 : end]


def ack_read(body: bytes, control_id: str) -> Ack:
    """The ACK of our message ``control_id``; MllpError if it is not one."""
    try:
        text = body.decode("utf-8")
        # Segments end with CR; tolerate a RIS that adds LF.
        ack = parse_message(text.replace("\r\n", "\r").replace("\n", "\r"), find_groups=False)
        msa = ack.msa
        code = str(msa.msa_1.value).strip()
        acknowledged = str(msa.msa_2.value).strip()
    except (UnicodeDecodeError, HL7apyException, AttributeError, IndexError, ValueError):
        raise MllpError("the answer is not an HL7 ACK") from None
    if code not in {"AA", "AE", "AR", "CA", "CE", "CR"}:
        raise MllpError("the ACK has no valid acknowledgement code")
    if acknowledged != control_id:
        raise MllpError("the ACK answers another message")
    texts = [str(msa.msa_3.value).strip()] if msa.msa_3.value else []
    for segment in ack.children:
        if segment.name == "ERR":
            for index in (8, 7, 3):  # user message, diagnostic, error code
                field = getattr(segment, f"err_{index}", None)
                if field is not None and field.value:
                    texts.append(str(field.value).strip())
                    break
    # Many RIS repeat MSA-3 in ERR: say each thing once.
    return Ack(code=code, text="; ".join(dict.fromkeys(t for t in texts if t)))


def mllp_send(
    endpoint: Endpoint,
    payload: str,
    *,
    control_id: str,
    connect_timeout: float,
    answer_timeout: float,
    max_answer_bytes: int,
) -> Ack:
    sock = _connect(endpoint, connect_timeout)
    with sock:
        deadline = time.monotonic() + answer_timeout
        try:
            sock.settimeout(answer_timeout)
            sock.sendall(frame(payload))
        except OSError as error:
            raise MllpError(f"sending failed ({type(error).__name__})") from None
        return ack_read(_read_frame(sock, deadline, max_answer_bytes), control_id)
