"""Server time of the prescriber's options page at national scale.

    .venv/bin/python bench/options_page.py                # 4,000 centres, 10,000 machines, 30 days
    .venv/bin/python bench/options_page.py --scale 0.05   # quick check

Loads the scheduling benchmark's national data (bench/scheduling_scale.py: its
loader, COPY into a database whose name says 'bench'), writes the availability
cache for every centre, loads the rule pack, starts a real Orthanc holding the
test patient's studies, and primes the prior-exam cache with one lookup (the
issue asks for the page with the PACS answer cached). Then it times, in-process
(Django's test client: server time, no network):

  * the decision: POST /orders/new/ (engine, cached priors, slot search, ranking,
    consultation record) — the request that produces the options page;
  * the options page itself: GET /orders/c/<id>/ with filters (re-rank in place).

It prints p50/p95/p99 and the command that reproduces them.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scheduling_scale import load, recreate_database, setup_django  # noqa: E402

INDICATIONS = ["breast-lump", "sciatica", "headache-recent-unusual", "low-back-pain-acute"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--slot-minutes", type=int, default=20)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/icds_bench_options"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--seed", type=int, default=11)
    return parser.parse_args()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    args = parse_args()
    rng = random.Random(args.seed)
    recreate_database(args.database_url)
    setup_django(args)
    import redis
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.test import Client, override_settings

    from guidelines.catalogue import procedure_catalogue_load
    from ordering.demo_studies import DEMO_ISSUER
    from ordering.pacs.nodes import PacsNode
    from scheduling.cache import cache_write_centres, index_rebuild
    from scheduling.models import Centre
    from tests.orthanc import OrthancServer, study_file

    redis.Redis.from_url(args.redis_url).flushdb()
    t = time.perf_counter()
    n_centres, n_machines, n_slots = load(args, rng)
    print(
        f"loaded {n_centres:,} centres, {n_machines:,} machines, {n_slots:,} slots"
        f" in {time.perf_counter() - t:.0f} s"
    )
    t = time.perf_counter()
    cache_write_centres(Centre.objects.values_list("id", flat=True))
    index_rebuild()
    print(f"availability cache written in {time.perf_counter() - t:.0f} s")
    procedure_catalogue_load()
    call_command("rulepack_load", "--publish", verbosity=0)
    user = User.objects.create_user("bench-prescriber")
    user.groups.add(Group.objects.get_or_create(name="prescriber")[0])

    orthanc = OrthancServer(dicomweb=False).start()
    try:
        orthanc.upload(
            study_file(
                patient_id="BENCH0001",
                issuer=DEMO_ISSUER,
                study_date="20260101",
                modality="MR",
                description="IRM RACHIS LOMBAIRE",
                body_part="LSPINE",
            )
        )
        node = PacsNode("bench", "127.0.0.1", orthanc.dicom_port, orthanc.aet, "IMAGINGCDS")
        with override_settings(PACS_NODES=[node], ALLOWED_HOSTS=["testserver"]):
            run(args, user, Client)
    finally:
        orthanc.cleanup()


def run(args: argparse.Namespace, user: object, client_class: type) -> None:
    client = client_class()
    client.force_login(user)
    patient = {
        "identifier_kind": "local",
        "identifier": "BENCH0001",
        "birth_date": "1971-06-15",
        "sex": "F",
        "birth_name": "BANC",
        "given_names": "Essai",
        "postcode": "35000",
        "pregnancy": "no",
        "weight_kg": "70",
    }
    decisions: list[float] = []
    pages: list[float] = []
    shown: list[int] = []
    consultation_urls = []
    warm = 10
    for i in range(args.requests + warm):
        data = {**patient, "indication_code": INDICATIONS[i % len(INDICATIONS)]}
        t = time.perf_counter()
        response = client.post("/orders/new/", data)
        elapsed = (time.perf_counter() - t) * 1000
        assert response.status_code == 302, response.content[:500]
        if i >= warm:
            decisions.append(elapsed)
        consultation_urls.append(response["Location"])
    filters = ["", "?max_distance_km=30", "?public_only=on", "?max_distance_km=100&public_only=on"]
    for i in range(args.requests + warm):
        url = consultation_urls[i % len(consultation_urls)] + filters[i % len(filters)]
        t = time.perf_counter()
        response = client.get(url)
        elapsed = (time.perf_counter() - t) * 1000
        assert response.status_code == 200
        if i >= warm:
            pages.append(elapsed)
            shown.append(response.content.count(b'name="slot_id"'))
    command = (
        f".venv/bin/python bench/options_page.py --scale {args.scale:g} --days {args.days}"
        f" --requests {args.requests} --database-url {args.database_url}"
        f" --redis-url {args.redis_url} --seed {args.seed}"
    )
    print()
    print("imaging-cds options page benchmark (server time, PACS answer cached)")
    for name, values in (
        ("decision  POST /orders/new/", decisions),
        ("options   GET /orders/c/<id>/", pages),
    ):
        print(
            f"  {name}: n={len(values)}  p50 {statistics.median(values):.1f} ms"
            f"  p95 {percentile(values, 0.95):.1f} ms  p99 {percentile(values, 0.99):.1f} ms"
        )
    print(f"  bookable options shown per page: mean {statistics.mean(shown):.1f}, min {min(shown)}")
    print("  target: p95 under 150 ms")
    print(f"  reproduce: {command}")


if __name__ == "__main__":
    main()
