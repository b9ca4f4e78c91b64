"""CDS Hooks order-select latency under gunicorn, against PostgreSQL, Redis and a real
Orthanc, compared with a bare DRF endpoint on the same server in the same run.

Run from the repository root (PostgreSQL and Redis running locally):

    .venv/bin/python bench/cds_order_select.py
    .venv/bin/python bench/cds_order_select.py --requests 400 --threads 8

What it does: recreates the PostgreSQL database BENCH_DATABASE_URL (its name must
contain "bench"; default postgres://postgres@127.0.0.1:5432/icds_bench_cds), migrates
it and loads the demo (`demo_load --force --days 7`); flushes Redis db 7; starts an
Orthanc holding a mammogram of the test patient; registers an EHR client with a fresh
RSA key; lifts API_RATE_LIMIT (the default 300/min would answer most requests 429);
starts gunicorn (gthread, 2 workers x 4 threads, DEBUG off) on a free loopback port.
Then, over keep-alive HTTP, each request with a fresh JWT (aud = the exact service
URL, signed before the clock starts), in --rounds interleaved rounds so that every
case sees the same machine:

  ping      GET /api/v1/ping (no auth, throttle or database): the server's floor
  floor     POST /cds-floor (CDS_FLOOR_ENDPOINT): the same JWT check (its id written
            once: the one row), throttle, JSON parser and fhir.resources validation
            of the same body as a hook, and no decision: what the goal is measured by
  cached    order-select for the same patient, prior-exam answer cached (warmed)
  uncached  order-select with a new patient id per request: each one queries Orthanc
  pacs-down order-select, new patient each time, after Orthanc is stopped: the
            circuit breaker answers "prior exams unavailable" without a connection

The latency cases run serially (one client thread); then floor and cached again
with --threads client threads, for throughput. Ratios to the floor are printed.
Every process it started is stopped by its PID at the end, also on error.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
SERVICE = "/cds-services/imaging-order-select"
FLOOR = "/cds-floor"
OUR_PROCEDURES = "https://imaging-cds.example/fhir/CodeSystem/procedure"
PATIENT_WITH_PRIORS = "TESTPAT01"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def recreate_database(url: str) -> None:
    import psycopg2  # type: ignore[import-untyped]

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if "bench" not in name:
        raise SystemExit(f"refusing to recreate {name!r}: the name must contain 'bench'")
    admin = psycopg2.connect(
        host=parts.hostname,
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password or None,
        dbname="postgres",
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()


def order_select_body(identifier: str) -> dict[str, Any]:
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "birthDate": "1960-03-01",
        "gender": "female",
        "address": [{"postalCode": "35000", "city": "Rennes"}],
        "identifier": [{"system": "urn:oid:1.2.3.4.local", "value": identifier}],
    }
    draft = {
        "resourceType": "ServiceRequest",
        "id": "sr1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": OUR_PROCEDURES, "code": "us-breast"}]},
        "reasonCode": [{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "N63"}]}],
    }
    empty = {"resourceType": "Bundle", "type": "searchset"}
    return {
        "hook": "order-select",
        "hookInstance": str(uuid.uuid4()),
        "context": {
            "userId": "Practitioner/123",
            "patientId": "p1",
            "selections": ["ServiceRequest/sr1"],
            "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": draft}]},
        },
        "prefetch": {"patient": patient, "weight": empty, "egfr": empty, "pregnancy": empty},
    }


class Case:
    """One measured case: a request factory run from client threads."""

    def __init__(self, name: str, make: Callable[[int], tuple[str, str, bytes, dict[str, str]]]):
        self.name = name
        self.make = make
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.wall = 0.0


def run_case(case: Case, port: int, threads: int, requests: int, seconds: float) -> None:
    counter = iter(range(requests))
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            while time.monotonic() < deadline:
                with lock:
                    n = next(counter, None)
                if n is None:
                    return
                method, path, body, headers = case.make(n)  # JWT signed before the clock
                start = time.perf_counter()
                conn.request(method, path, body=body or None, headers=headers)
                response = conn.getresponse()
                data = response.read()
                elapsed = time.perf_counter() - start
                if response.status != 200:
                    case.errors.append(f"{response.status} {data[:200]!r}")
                    continue
                if path == SERVICE and not json.loads(data).get("cards"):
                    case.errors.append("200 without cards")
                    continue
                case.latencies.append(elapsed * 1000)
        finally:
            conn.close()

    started = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    case.wall += time.perf_counter() - started


def report(case: Case) -> str:
    n = len(case.latencies)
    if n < 2:
        return f"{case.name:9s} n={n} errors={len(case.errors)} (too few answers)"
    q = statistics.quantiles(case.latencies, n=100, method="inclusive")
    return (
        f"{case.name:9s} n={n:4d}  p50 {q[49]:7.2f} ms  p95 {q[94]:7.2f} ms  "
        f"p99 {q[98]:7.2f} ms  max {max(case.latencies):7.2f} ms  "
        f"{n / case.wall:7.1f} req/s  errors {len(case.errors)}"
    )


def _quantile(case: Case, k: int) -> float:
    return statistics.quantiles(case.latencies, n=100, method="inclusive")[k - 1]


def ratio(case: Case, floor: Case) -> str:
    if len(case.latencies) < 2 or len(floor.latencies) < 2:
        return f"{case.name}: too few answers"
    return (
        f"{case.name:9s} p50 {_quantile(case, 50) / _quantile(floor, 50):4.2f}x  "
        f"p95 {_quantile(case, 95) / _quantile(floor, 95):4.2f}x the floor"
    )


def throughput(case: Case) -> float:
    return len(case.latencies) / case.wall if case.wall else 0.0


def stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)  # gunicorn's master stops its own workers
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="most requests per case")
    parser.add_argument("--seconds", type=float, default=60.0, help="most seconds per case")
    parser.add_argument("--threads", type=int, default=4, help="client threads")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--server-threads", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    args = parser.parse_args()

    database_url = os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/icds_bench_cds"
    )
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
    port = free_port()
    gunicorn: subprocess.Popen[bytes] | None = None
    orthanc: Any = None
    try:
        recreate_database(database_url)
        import redis

        redis.Redis.from_url(redis_url).flushdb()

        from tests.orthanc import OrthancServer, study_file

        orthanc = OrthancServer(dicomweb=False).start()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "imaging_cds.settings",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CACHE_KEY_PREFIX": "icds-bench",
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "false",
            "LOG_LEVEL": "WARNING",
            # The client's rate limit (300/min by default) would answer most requests 429.
            "API_RATE_LIMIT": "1000000/min",
            "CDS_RATE_LIMIT": "1000000/min",
            "CDS_FLOOR_ENDPOINT": "true",
            "PACS_NODES": json.dumps(
                [
                    {
                        "name": "bench-pacs",
                        "host": "127.0.0.1",
                        "port": orthanc.dicom_port,
                        "called_aet": orthanc.aet,
                    }
                ]
            ),
        }
        manage = [PYTHON, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, check=True, cwd=ROOT)
        subprocess.run(
            [*manage, "demo_load", "--force", "--quiet-accounts", "--days", "7"],
            env=env,
            check=True,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )

        os.environ.update(env)
        import django

        django.setup()
        from django.utils import timezone

        from ordering.demo_studies import DEMO_ISSUER
        from tests.cds.jwt_keys import register_client, rsa_key, token

        ago = (timezone.localdate() - timedelta(days=420)).strftime("%Y%m%d")
        orthanc.upload(
            study_file(
                patient_id=PATIENT_WITH_PRIORS,
                issuer=DEMO_ISSUER,
                study_date=ago,
                modality="MG",
                description="MAMMOGRAPHIE BILATERALE",
                body_part="BREAST",
            )
        )
        key = rsa_key()
        register_client(key)
        from django.db import connections

        connections.close_all()

        gunicorn = subprocess.Popen(
            [
                GUNICORN,
                "imaging_cds.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--worker-class",
                "gthread",
                "--workers",
                str(args.workers),
                "--threads",
                str(args.server_threads),
                "--keep-alive",
                "30",
                "--log-level",
                "warning",
            ],
            env=env,
            cwd=ROOT,
        )
        for _ in range(200):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                conn.request("GET", "/api/v1/ping")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit("gunicorn did not answer /api/v1/ping")

        audience = f"http://127.0.0.1:{port}{SERVICE}"

        def hook(identifier: Callable[[int], str]) -> Callable[[int], Any]:
            def make(n: int) -> tuple[str, str, bytes, dict[str, str]]:
                body = json.dumps(order_select_body(identifier(n))).encode()
                headers = {
                    "Content-Type": "application/json",
                    "Authorization": f"Bearer {token(key, aud=audience)}",
                }
                return "POST", SERVICE, body, headers

            return make

        run_id = uuid.uuid4().hex[:6].upper()
        floor_audience = f"http://127.0.0.1:{port}{FLOOR}"

        def floor(n: int) -> tuple[str, str, bytes, dict[str, str]]:
            body = json.dumps(order_select_body(PATIENT_WITH_PRIORS)).encode()
            headers = {
                "Content-Type": "application/json",
                "Authorization": f"Bearer {token(key, aud=floor_audience)}",
            }
            return "POST", FLOOR, body, headers

        ping = Case("ping", lambda n: ("GET", "/api/v1/ping", b"", {}))
        floor_case = Case("floor", floor)
        cached = Case("cached", hook(lambda n: PATIENT_WITH_PRIORS))
        uncached = Case("uncached", hook(lambda n: f"B{run_id}{n:06d}"))
        # Warm: the prior-exam answer of the cached patient, each worker's imports.
        run_case(Case("warm", hook(lambda n: PATIENT_WITH_PRIORS)), port, args.threads, 40, 30)
        run_case(Case("warm", floor), port, args.threads, 40, 30)
        run_case(Case("warm", lambda n: ("GET", "/api/v1/ping", b"", {})), port, 2, 40, 10)
        serial = (ping, floor_case, cached, uncached)
        per_round = max(1, args.requests // args.rounds)
        for _round in range(args.rounds):
            for case in serial:
                run_case(case, port, 1, per_round, args.seconds / args.rounds)
        floor_busy = Case(f"floor x{args.threads}", floor)
        cached_busy = Case(f"cached x{args.threads}", hook(lambda n: PATIENT_WITH_PRIORS))
        for _round in range(args.rounds):
            for case in (floor_busy, cached_busy):
                run_case(case, port, args.threads, per_round, args.seconds / args.rounds)
        orthanc.stop()
        down = Case("pacs-down", hook(lambda n: f"D{run_id}{n:06d}"))
        run_case(down, port, 1, args.requests, args.seconds)

        cases = (*serial, down, floor_busy, cached_busy)
        print(
            f"gunicorn gthread {args.workers} workers x {args.server_threads} threads; "
            f"serial client, then {args.threads} client threads; keep-alive, loopback; "
            f"{args.rounds} interleaved rounds; Python {sys.version.split()[0]}, "
            f"{os.cpu_count()} CPUs"
        )
        for case in cases:
            print(report(case))
            for error in case.errors[:3]:
                print(f"    error: {error}")
        print("ratios to the floor (goal: cached p50 <= 2x, p95 <= 2.5x):")
        for case in (cached, uncached, down):
            print(f"  {ratio(case, floor_case)}")
        print(f"  throughput {cached_busy.name}: {throughput(cached_busy):.0f} req/s")
        print(
            "reproduce: .venv/bin/python bench/cds_order_select.py "
            f"--requests {args.requests} --seconds {args.seconds:g} --threads {args.threads} "
            f"--rounds {args.rounds}"
        )
        failed = any(c.errors or len(c.latencies) < 2 for c in cases)
        return 1 if failed else 0
    finally:
        stop(gunicorn)
        if orthanc is not None:
            orthanc.stop()


if __name__ == "__main__":
    sys.exit(main())
