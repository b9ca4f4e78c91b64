"""Load and fault run against the real stack on this machine (loopback only).

    .venv/bin/python bench/load_run.py            # 50 prescribers, 5 minutes, faults
    .venv/bin/python bench/load_run.py --short    # CI: 10 users, 45 s, faults

It creates a dedicated PostgreSQL database (icds_load), starts its own redis-server
on a free port (never the machine's shared Redis), Orthanc, gunicorn, a Celery
worker and beat, loads the demo, drives them with locust (headless), injects
faults, reconciles the database after each fault and at the end, prints figures
and exits non-zero on any server error or any reconciliation failure.

Every demo centre sends its orders to a real MLLP listener (tests/ris/mllp_listener.py,
in this process) standing in for its RIS; one fault stops that RIS for 2 minutes
(15 s with --short). At the end the outbox is reconciled against what the RIS
received: every booked order's message delivered, none lost, none duplicated (a
resend with the same MSH-10, after a worker died mid-send, is counted apart: the RIS
recognises it), and each centre's messages received in the order they were written.

The users are prescribers on the pages, and EHRs on the REST API and on the CDS
Hooks order-select service (a registered client signing a fresh JWT per call).

A server error is any 5xx, or no answer at all, anywhere in the run, the
PostgreSQL-drop window included. The one exception is a 503 with Retry-After: the
app's honest answer while its database is lost. Those are counted and printed
apart, and fail the run only if they outlast the drop. Every process it starts is
stopped by its id on exit.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import psycopg2  # type: ignore[import-untyped]
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.orthanc import OrthancServer, free_port, study_file  # noqa: E402
from tests.ris.mllp_listener import MllpListener  # noqa: E402

# The interpreter running this script: the project's virtualenv, wherever it lives (a
# git worktree has none of its own).
PY = sys.executable
BIN = Path(sys.executable).parent
PASSWORD = "load-run-password-4711"  # noqa: S105 - throw-away accounts of a throw-away database
PG_ADMIN = os.environ.get("LOAD_PG_ADMIN", "postgres://postgres@127.0.0.1:5432/postgres")
# Its own name per worktree (LOAD_DB_NAME), so that two runs on one machine never
# drop each other's database.
DB_NAME = os.environ.get("LOAD_DB_NAME", "icds_load")
EHR_ISSUER = "https://load-ehr.example"


@dataclass
class Stack:
    workdir: Path
    env: dict[str, str]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    orthanc: OrthancServer | None = None
    redis_port: int = 0
    web_port: int = 0
    ris: MllpListener | None = None
    ris_down_seconds: float = 120.0

    def start(self, name: str, argv: list[str], **extra_env: str) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**self.env, **extra_env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: killed with its children, by id
        )
        self.procs[name] = proc
        return proc

    def kill(self, name: str, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def start_redis(self) -> None:
        self.start(
            "redis",
            [
                "redis-server",
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
        )
        wait_for(lambda: _redis_ping(self.redis_port), "redis")

    def start_worker(self) -> None:
        self.start(
            "worker",
            [str(BIN / "celery"), "-A", "imaging_cds", "worker", "-c", "2", "-l", "WARNING"],
        )

    def stop_all(self) -> None:
        for name in list(self.procs)[::-1]:
            self.kill(name)
        if self.orthanc is not None:
            self.orthanc.cleanup()


def _redis_ping(port: int) -> bool:
    import redis

    try:
        return bool(redis.Redis(port=port, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with suppress(Exception):
            if check():
                return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up within {timeout} s")


def manage(stack: Stack, *args: str) -> str:
    result = subprocess.run(
        [PY, "manage.py", *args],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def database_create() -> None:
    conn = psycopg2.connect(PG_ADMIN)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            [DB_NAME],
        )
        cursor.execute(f"DROP DATABASE IF EXISTS {DB_NAME}")
        cursor.execute(f"CREATE DATABASE {DB_NAME}")
    conn.close()


def db() -> Any:
    conn = psycopg2.connect(PG_ADMIN.rsplit("/", 1)[0] + f"/{DB_NAME}")
    conn.autocommit = True
    return conn


SEED = """
from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import Token
prescriber = Group.objects.get(name="prescriber")
for i in range(1, {n} + 1):
    user = User.objects.create_user(f"load-{{i:03d}}", password="{pw}")
    user.groups.add(prescriber)
ehr = User.objects.create_user("load-ehr", password="{pw}")
ehr.groups.add(Group.objects.get(name="api_client"))
import json
from ordering.models import EhrClient
EhrClient.objects.create(
    name="Load EHR", issuer="{issuer}", jwks=json.load(open("{jwks}")), user=ehr
)
print(Token.objects.create(user=ehr).key)
"""


def ehr_key_write(workdir: Path) -> tuple[Path, Path]:
    """A key pair for the CDS Hooks client: the JWKS the app registers, the private key
    the locust EHR users sign with."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.get_algorithm_by_name("RS384").to_jwk(key.public_key()))
    jwk.update({"kid": "load-1", "alg": "RS384", "use": "sig"})
    jwks_path, key_path = workdir / "ehr-jwks.json", workdir / "ehr-key.pem"
    jwks_path.write_text(json.dumps({"keys": [jwk]}))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return jwks_path, key_path


def reconcile(stack: Stack, label: str, settle: int = 2) -> list[str]:
    """The invariants the run must keep, read straight from PostgreSQL."""
    problems: list[str] = []
    conn = db()
    queries = {
        # An order signed without a booking (the patient books later) has no booking_id.
        "signed booked orders without an active booking": """
            SELECT count(*) FROM ordering_order o JOIN scheduling_booking b
              ON b.id = o.booking_id
            WHERE o.status = 'signed' AND b.status <> 'booked'""",
        # A long exam books a run of slots: every slot of it has its booking-slot row.
        "slots booked twice": """
            SELECT count(*) FROM (SELECT bs.slot_id FROM scheduling_bookingslot bs
              JOIN scheduling_booking b ON b.id = bs.booking_id
              WHERE b.status = 'booked' GROUP BY bs.slot_id HAVING count(*) > 1) s""",
        "active bookings without a signed order (half-written)": """
            SELECT count(*) FROM scheduling_booking b WHERE b.status = 'booked'
              AND NOT EXISTS (SELECT 1 FROM ordering_order o
                              WHERE o.booking_id = b.id AND o.status = 'signed')""",
        "booked slots without an active booking": """
            SELECT count(*) FROM scheduling_slot s WHERE s.status = 'booked'
              AND NOT EXISTS (SELECT 1 FROM scheduling_bookingslot bs
                              JOIN scheduling_booking b ON b.id = bs.booking_id
                              WHERE bs.slot_id = s.id AND b.status = 'booked')""",
    }
    with conn.cursor() as cursor:
        for what, sql in queries.items():
            cursor.execute(sql)
            count = cursor.fetchone()[0]
            if count:
                problems.append(f"{label}: {count} {what}")
    # Expired holds are released by beat (HOLDS_RELEASE_SECONDS): wait for one tick.
    deadline = time.monotonic() + 3 * int(stack.env["HOLDS_RELEASE_SECONDS"]) + 5
    left = -1
    while time.monotonic() < deadline:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM scheduling_slot WHERE status = 'held' "
                "AND held_until < now() - make_interval(secs => %s)",
                [settle],
            )
            left = cursor.fetchone()[0]
        if left == 0:
            break
        time.sleep(1)
    if left:
        problems.append(f"{label}: {left} expired holds left behind")
    conn.close()
    print(f"  reconcile after {label}: {'OK' if not problems else '; '.join(problems)}")
    return problems


@dataclass
class Fault:
    name: str
    at: float  # seconds into the run
    start: float = 0.0
    end: float = 0.0
    notes: list[str] = field(default_factory=list)


def fault_worker_killed(stack: Stack, fault: Fault) -> None:
    conn = db()
    with conn.cursor() as cursor:
        cursor.execute("SELECT max(last_success_at) FROM scheduling_feedstate")
        before = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM scheduling_slot")
        slots_before = cursor.fetchone()[0]
    # Queue a refresh of every centre, then kill the worker while it works on them.
    manage(
        stack,
        "shell",
        "-c",
        "from scheduling.tasks import availability_refresh_all as t; t.delay()",
    )
    time.sleep(0.7)
    stack.kill("worker", signal.SIGKILL)
    fault.notes.append("worker SIGKILLed mid-refresh")
    time.sleep(2)
    stack.start_worker()
    deadline = time.monotonic() + int(stack.env["CELERY_VISIBILITY_TIMEOUT"]) + 40
    after = before
    while time.monotonic() < deadline:
        with conn.cursor() as cursor:
            cursor.execute("SELECT max(last_success_at) FROM scheduling_feedstate")
            after = cursor.fetchone()[0]
        if after and (before is None or after > before):
            break
        time.sleep(1)
    with conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM scheduling_slot")
        slots_after = cursor.fetchone()[0]
    refreshed = bool(after and (before is None or after > before))
    fault.notes.append(
        f"feeds refreshed again after restart: {refreshed}; slots {slots_before} -> {slots_after}"
    )
    if not refreshed:
        fault.notes.append("FAIL: no refresh succeeded after the worker restarted")
    if slots_after < slots_before:
        fault.notes.append("FAIL: slots lost")
    conn.close()


def fault_redis_restart(stack: Stack, fault: Fault) -> None:
    stack.kill("redis")
    fault.notes.append("dedicated redis-server stopped")
    time.sleep(8)
    stack.start_redis()
    fault.notes.append("redis-server restarted")
    time.sleep(3)


def fault_orthanc_stopped(stack: Stack, fault: Fault) -> None:
    assert stack.orthanc is not None
    stack.orthanc.stop()
    fault.notes.append("Orthanc stopped")
    time.sleep(10)
    stack.orthanc.start()
    fault.notes.append("Orthanc started again")


def fault_pg_drop(stack: Stack, fault: Fault) -> None:
    conn = db()
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            [DB_NAME],
        )
        fault.notes.append(f"{cursor.fetchone()[0]} app connections terminated")
    conn.close()
    time.sleep(3)


def fault_ris_down(stack: Stack, fault: Fault) -> None:
    assert stack.ris is not None
    stack.ris.stop()
    fault.notes.append(f"RIS (MLLP listener) stopped for {stack.ris_down_seconds:g} s")
    time.sleep(stack.ris_down_seconds)
    stack.ris.start()
    fault.notes.append("RIS started again on the same port")


RIS_WIRE = """
from scheduling.models import Centre, RisEndpoint
for index, centre in enumerate(Centre.objects.order_by("pk")):
    RisEndpoint.objects.create(
        centre=centre, host="127.0.0.1", port={port}, receiving_application=f"RIS-{{centre.pk}}",
        receiving_facility="CENTRE", profile="ORM_O01" if index % 2 else "OMI_O23",
    )
"""


def outbox_reconcile(stack: Stack, timeout: float = 150) -> list[str]:
    """Every message the outbox holds reached the RIS once, in order per centre."""
    assert stack.ris is not None
    problems: list[str] = []
    conn = db()
    deadline = time.monotonic() + timeout
    pending = -1
    while time.monotonic() < deadline:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM ordering_outboundmessage WHERE state IN ('queued', 'sent')"
            )
            pending = cursor.fetchone()[0]
        if pending == 0:
            break
        time.sleep(1)
    with conn.cursor() as cursor:
        # Lost: a booked order (every centre has a RIS here) without its new-order message.
        cursor.execute(
            "SELECT count(*) FROM ordering_order o WHERE o.booking_id IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM ordering_outboundmessage m "
            "WHERE m.order_id = o.id AND m.kind = 'hl7_nw')"
        )
        unwritten = cursor.fetchone()[0]
        cursor.execute(
            "SELECT id, centre_id, placer_number, kind, control_id, state "
            "FROM ordering_outboundmessage ORDER BY id"
        )
        rows = cursor.fetchall()
        # The heads of the centres' queues during the RIS outage (those behind them
        # waited without an attempt).
        cursor.execute("SELECT count(*) FROM ordering_outboundmessage WHERE attempts > 1")
        retried = cursor.fetchone()[0]
    conn.close()
    received = stack.ris.received
    control = {"hl7_nw": "NW", "hl7_ca": "CA"}
    written = {(placer, control[kind]) for _id, _c, placer, kind, _ctl, _s in rows}
    got = {(r.placer_number, r.order_control) for r in received}
    per_key: dict[tuple[str, str], set[str]] = {}
    for r in received:
        per_key.setdefault((r.placer_number, r.order_control), set()).add(r.control_id)
    duplicated = sum(1 for ids in per_key.values() if len(ids) > 1)
    resent = len(received) - len({r.control_id for r in received})
    lost = len(written - got)
    not_acked = sum(1 for row in rows if row[5] != "acknowledged")
    # In order per centre: the first reception of each message follows the outbox's ids.
    centre_of = {ctl: centre for _id, centre, _p, _k, ctl, _s in rows}
    order_of = {ctl: mid for mid, _c, _p, _k, ctl, _s in rows}
    seen: dict[int, list[int]] = {}
    first_seen: set[str] = set()
    for r in received:
        if r.control_id in centre_of and r.control_id not in first_seen:
            first_seen.add(r.control_id)
            seen.setdefault(centre_of[r.control_id], []).append(order_of[r.control_id])
    out_of_order = sum(1 for ids in seen.values() if ids != sorted(ids))
    print(
        f"  outbox: {len(rows)} messages written ({retried} needed more than one attempt), "
        f"{len(received)} received by the RIS; "
        f"{lost} lost, {duplicated} duplicated, {resent} resent with the same MSH-10, "
        f"{not_acked} not acknowledged, {out_of_order} centres out of order, "
        f"{unwritten} booked orders without a message"
    )
    if pending:
        problems.append(f"outbox: {pending} messages still pending after {timeout:g} s")
    for count, what in (
        (lost, "messages lost"),
        (duplicated, "messages duplicated"),
        (not_acked, "messages not acknowledged"),
        (out_of_order, "centres whose RIS got its messages out of order"),
        (unwritten, "booked orders without their outbox message"),
        (len(got - written), "messages received that the outbox never wrote"),
    ):
        if count:
            problems.append(f"outbox: {count} {what}")
    return problems


FAULTS: dict[str, Callable[[Stack, Fault], None]] = {
    # First: its outage is the longest, and the later faults wait for it.
    "ris-down": fault_ris_down,
    "worker-killed": fault_worker_killed,
    "redis-restart": fault_redis_restart,
    "orthanc-stopped": fault_orthanc_stopped,
    "pg-drop": fault_pg_drop,
}


def pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@dataclass
class Figures:
    server_errors: int  # any 5xx but a 503 with Retry-After, and no answer at all
    unavailable: int  # 503 with Retry-After: the database was lost
    unavailable_outside_pg: int


def report(events_path: Path, duration: float, faults: list[Fault]) -> Figures:
    rows = [
        (float(t), name, float(ms), int(status), retry_after == "1")
        for t, name, ms, status, retry_after in csv.reader(events_path.open())
    ]

    def unavailable(row: tuple[float, str, float, int, bool]) -> bool:
        return row[3] == 503 and row[4]

    def server_error(row: tuple[float, str, float, int, bool]) -> bool:
        return (row[3] >= 500 and not unavailable(row)) or row[3] == 0

    print(f"\nrequests: {len(rows)} in {duration:.0f} s = {len(rows) / duration:.1f} req/s")
    print(
        f"{'step':<16}{'count':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
        f"{'5xx':>6}{'503':>6}{'err':>6}"
    )
    for name in sorted({r[1] for r in rows}):
        mine = [r for r in rows if r[1] == name]
        times = [r[2] for r in mine]
        other = sum(1 for r in mine if 400 <= r[3] < 500 and r[3] != 409)
        print(
            f"{name:<16}{len(mine):>7}{statistics.median(times):>9.0f}"
            f"{pct(times, 95):>9.0f}{pct(times, 99):>9.0f}"
            f"{sum(map(server_error, mine)):>6}{sum(map(unavailable, mine)):>6}{other:>6}"
        )
    pg = [f for f in faults if f.name == "pg-drop"]
    # A request sent just before the drop is answered inside it; one sent just after
    # may still meet a connection its worker has not yet found dead.
    in_pg = [r for r in rows if any(f.start - 2 <= r[0] <= f.end + 5 for f in pg)]
    errors = [r for r in rows if server_error(r)]
    down = [r for r in rows if unavailable(r)]
    down_in_pg = [r for r in in_pg if unavailable(r)]
    print(
        f"server errors: {len(errors)} ({100 * len(errors) / max(1, len(rows)):.2f} %), "
        f"{sum(map(server_error, in_pg))} of them in the PostgreSQL-drop window"
    )
    print(
        f"503 with Retry-After (database lost): {len(down)}, "
        f"{len(down_in_pg)} of them in the PostgreSQL-drop window"
    )
    for fault in faults:
        window = [r for r in rows if fault.start <= r[0] <= fault.end + 2 and r[1] == "new"]
        times = [r[2] for r in window]
        print(
            f"  fault {fault.name}: {fault.end - fault.start:.1f} s; 'new' during it: "
            f"{len(times)} requests, p95 {pct(times, 95):.0f} ms, max {max(times, default=0):.0f}"
            f" ms, 5xx {sum(map(server_error, window))}, 503 {sum(map(unavailable, window))}; "
            + "; ".join(fault.notes)
        )
    return Figures(len(errors), len(down), len(down) - len(down_in_pg))


def degraded_counts() -> dict[str, int]:
    conn = db()
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE prior_status LIKE 'unavailable%%'), "
            "count(*) FILTER (WHERE availability_source = 'database'), count(*), "
            "(SELECT count(*) FROM ordering_order WHERE status = 'signed') "
            "FROM ordering_consultation"
        )
        priors_down, from_db, total, signed = cursor.fetchone()
    conn.close()
    return {
        "consultations": total,
        "signed orders": signed,
        "priors unavailable": priors_down,
        "availability read from the database": from_db,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="CI: 10 users for 45 s.")
    parser.add_argument("--users", type=int)
    parser.add_argument("--seconds", type=int)
    parser.add_argument("--no-faults", action="store_true")
    args = parser.parse_args()
    users = args.users or (10 if args.short else 50)
    seconds = args.seconds or (45 if args.short else 300)

    workdir = Path(tempfile.mkdtemp(prefix="icds-load-"))
    redis_port, web_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))},
        "DATABASE_URL": PG_ADMIN.rsplit("/", 1)[0] + f"/{DB_NAME}",
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "CACHE_KEY_PREFIX": "icds-load",
        # DEBUG stays on: the run speaks plain HTTP on loopback, where the secure
        # cookies of production would never be sent back.
        "DEBUG": "true",
        "VAR_DIR": str(workdir / "var"),
        "LOG_LEVEL": "WARNING",
        "SLOT_HOLD_SECONDS": "30",
        "HOLDS_RELEASE_SECONDS": "5",
        "AVAILABILITY_REFRESH_SECONDS": "10",
        "CELERY_VISIBILITY_TIMEOUT": "15",
        "API_RATE_LIMIT": "100000/min",
        "PACS_TIMEOUT_SECONDS": "2",
        "LOGIN_FAILURE_LIMIT": "1000",
        # Retries close together and never given up, so a message held back by the RIS
        # outage goes out soon after it ends, within the run.
        "OUTBOX_RETRY_BASE_SECONDS": "2",
        "OUTBOX_RETRY_MAX_SECONDS": "10",
        "OUTBOX_MAX_ATTEMPTS": "100000",
        "OUTBOX_DISPATCH_SECONDS": "5",
    }
    stack = Stack(
        workdir=workdir,
        env=env,
        redis_port=redis_port,
        web_port=web_port,
        ris=MllpListener().start(),
        ris_down_seconds=15.0 if args.short else 120.0,
    )
    problems: list[str] = []
    faults: list[Fault] = []
    try:
        print(f"work folder {workdir}; {users} users for {seconds} s")
        stack.start_redis()
        database_create()
        stack.orthanc = OrthancServer(dicomweb=False).start()
        for i in range(1, 401, 40):
            stack.orthanc.upload(
                study_file(
                    patient_id=f"LOADPAT{i:04d}",
                    issuer="IMAGING-CDS-DEMO",
                    study_date="20240110",
                    modality="MG",
                    description="MAMMOGRAPHIE BILATERALE",
                )
            )
        env["PACS_HOST"], env["PACS_PORT"] = "127.0.0.1", str(stack.orthanc.dicom_port)
        env["PACS_CALLED_AET"] = stack.orthanc.aet
        manage(stack, "migrate", "--noinput", "-v0")
        manage(stack, "demo_load", "--force", "--quiet-accounts", "--days", "7")
        assert stack.ris is not None
        manage(stack, "shell", "-c", RIS_WIRE.format(port=stack.ris.port))
        jwks_path, key_path = ehr_key_write(workdir)
        seeded = manage(
            stack,
            "shell",
            "-c",
            SEED.format(n=users, pw=PASSWORD, issuer=EHR_ISSUER, jwks=jwks_path),
        )
        token = seeded.strip().splitlines()[-1]
        stack.start(
            "gunicorn",
            [
                str(BIN / "gunicorn"),
                "imaging_cds.wsgi",
                "-b",
                f"127.0.0.1:{web_port}",
                "-w",
                "4",
                "--threads",
                "4",
                "--timeout",
                "60",
                # Longer than any client's pause between requests: with gunicorn's 2 s
                # default a reused connection can be closed just as a request goes out.
                "--keep-alive",
                "10",
            ],
        )
        stack.start_worker()
        stack.start(
            "beat",
            [
                str(BIN / "celery"),
                "-A",
                "imaging_cds",
                "beat",
                "-l",
                "WARNING",
                "-s",
                str(workdir / "beat-schedule"),
            ],
        )
        base = f"http://127.0.0.1:{web_port}"
        wait_for(lambda: requests.get(f"{base}/healthz", timeout=2).status_code < 500, "gunicorn")

        events_path = workdir / "events.csv"
        events_path.touch()
        locust = stack.start(
            "locust",
            [
                str(BIN / "locust"),
                "-f",
                str(ROOT / "bench" / "locustfile.py"),
                "--headless",
                "-u",
                str(users),
                "-r",
                str(max(1, users // 5)),
                "--run-time",
                f"{seconds}s",
                "--host",
                base,
                "--only-summary",
                "--stop-timeout",
                "10",
            ],
            LOAD_EVENTS=str(events_path),
            LOAD_PASSWORD=PASSWORD,
            LOAD_PRESCRIBERS=str(users),
            LOAD_API_TOKEN=token,
            LOAD_EHR_ISSUER=EHR_ISSUER,
            LOAD_EHR_KEY=str(key_path),
        )
        started = time.time()
        if not args.no_faults:
            spacing = seconds / (len(FAULTS) + 1)
            faults = [Fault(name, spacing * (i + 1)) for i, name in enumerate(FAULTS)]

            def inject() -> None:
                for fault in faults:
                    time.sleep(max(0.0, started + fault.at - time.time()))
                    fault.start = time.time()
                    try:
                        FAULTS[fault.name](stack, fault)
                    except Exception as exc:  # reported, and fails the run
                        fault.notes.append(f"FAIL: injection raised {exc!r}")
                    fault.end = time.time()
                    # The same reconciliation after each fault, under load.
                    found = reconcile(stack, f"fault {fault.name}", settle=10)
                    fault.notes += [f"FAIL: {p}" for p in found]

            injector = threading.Thread(target=inject, daemon=True)
            injector.start()
        locust.wait(timeout=seconds + 120)
        stack.procs.pop("locust", None)
        if not args.no_faults:
            injector.join(timeout=120)
        duration = time.time() - started
        figures = report(events_path, duration, faults)
        for fault in faults:
            problems += [f"{fault.name}: {n}" for n in fault.notes if n.startswith("FAIL")]
        print("degraded answers:", json.dumps(degraded_counts()))
        problems += reconcile(stack, "the run")
        problems += outbox_reconcile(stack)
        if figures.server_errors:
            problems.append(f"{figures.server_errors} server errors")
        if figures.unavailable_outside_pg:
            problems.append(
                f"{figures.unavailable_outside_pg} answers of 503 (database lost) "
                "outside the PostgreSQL-drop window"
            )
    finally:
        stack.stop_all()
        if stack.ris is not None:
            stack.ris.stop()
    if problems:
        print("\nFAILED:\n  " + "\n  ".join(problems))
        return 1
    print(
        "\nOK: no server error (the PostgreSQL drop included: "
        f"{figures.unavailable} honest 503s); reconciliation passed, the outbox's included."
    )
    print(f"(logs in {workdir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
