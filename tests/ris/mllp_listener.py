"""A real MLLP listener for the tests, standing in for a centre's RIS: it reads each
framed message, parses it with hl7apy (a message it cannot parse fails the test that
sent it), records it and answers as told: AA, AE with a reason, garbage, a 5 MB
answer, nothing at all, or a closed connection. It can be stopped and started again
on the same port mid-run."""

from __future__ import annotations

import socketserver
import threading
from dataclasses import dataclass, field

from hl7apy.parser import parse_message

START, END = b"\x0b", b"\x1c\x0d"


@dataclass(frozen=True)
class Received:
    control_id: str
    message_type: str
    order_control: str
    placer_number: str
    er7: str


@dataclass
class _State:
    answer: str = "AA"
    reject_text: str = "Unknown procedure code"
    received: list[Received] = field(default_factory=list)
    parse_errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _ack(control_id: str, code: str, text: str = "") -> bytes:
    segments = [
        f"MSH|^~\\&|RIS|CENTRE|IMAGINGCDS|IMAGINGCDS|20260101120000||ACK^O01^ACK|A{control_id}|P|2.5",
        f"MSA|{code}|{control_id}" + (f"|{text}" if text else ""),
    ]
    if code != "AA":
        segments.append(f"ERR||||E|||{text}")
    return START + "\r".join(segments).encode() + END


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        buffer = b""
        self.request.settimeout(10)
        while True:
            try:
                chunk = self.request.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while END in buffer:
                framed, buffer = buffer.split(END, 1)
                if not self._answer(framed.lstrip(START).decode("utf-8")):
                    return

    def _answer(self, er7: str) -> bool:
        state = self.server.state
        try:
            message = parse_message(er7, find_groups=True)
            control_id = message.msh.msh_10.value
            received = Received(
                control_id=control_id,
                message_type=message.msh.msh_9.value,
                order_control=er7.split("\rORC|", 1)[1].split("|", 1)[0],
                placer_number=er7.split("\rORC|", 1)[1].split("|")[1].split("^")[0],
                er7=er7,
            )
        except Exception as error:
            with state.lock:
                state.parse_errors.append(f"{type(error).__name__}: {error}")
            self.request.sendall(_ack("", "AR", "unparseable"))
            return True
        answer = state.answer
        if answer == "close":
            return False
        if answer == "silent":
            # Keep the connection open and say nothing: the client's timeout must act.
            threading.Event().wait(30)
            return False
        with state.lock:
            state.received.append(received)
        if answer == "garbage":
            self.request.sendall(START + b"this is not HL7" + END)
        elif answer == "huge":
            self.request.sendall(START + b"MSH|" + b"x" * (5 * 1024 * 1024))
        elif answer == "AE":
            self.request.sendall(_ack(control_id, "AE", state.reject_text))
        else:
            self.request.sendall(_ack(control_id, "AA"))
        return True


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    state: _State


class MllpListener:
    def __init__(self) -> None:
        self.state = _State()
        self.port = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> MllpListener:
        server = _Server(("127.0.0.1", self.port), _Handler)
        server.state = self.state
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def answer(self, how: str) -> None:
        self.state.answer = how

    @property
    def received(self) -> list[Received]:
        with self.state.lock:
            return list(self.state.received)
