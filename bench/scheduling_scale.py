"""National-scale benchmark of scheduling: slot search from the Redis cache, refresh
throughput, cache memory and a full refresh cycle on real Celery workers.

    .venv/bin/python bench/scheduling_scale.py               # 4,000 centres, 10,000 machines
    .venv/bin/python bench/scheduling_scale.py --scale 0.05  # quick check (200 centres)

It (re)creates the PostgreSQL database named in --database-url (default
icds_bench: never a database you care about), loads the centres, machines and
every slot of the horizon with COPY, starts --workers Celery worker processes
(one process each, solo pool) on the Redis of --redis-url, times a full refresh
cycle through them, then times searches. It prints its figures and the command
that reproduces them.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Real towns (approximate centres) used as clusters for centres and as search points.
TOWNS = [
    ("Paris", 48.8566, 2.3522, 14),
    ("Marseille", 43.2965, 5.3698, 5),
    ("Lyon", 45.764, 4.8357, 5),
    ("Toulouse", 43.6047, 1.4442, 4),
    ("Nice", 43.7102, 7.262, 3),
    ("Nantes", 47.2184, -1.5536, 3),
    ("Strasbourg", 48.5734, 7.7521, 3),
    ("Montpellier", 43.6108, 3.8767, 3),
    ("Bordeaux", 44.8378, -0.5792, 4),
    ("Lille", 50.6292, 3.0573, 4),
    ("Rennes", 48.1173, -1.6778, 3),
    ("Reims", 49.2583, 4.0317, 2),
    ("Saint-Étienne", 45.4397, 4.3872, 2),
    ("Toulon", 43.1242, 5.928, 2),
    ("Grenoble", 45.1885, 5.7245, 2),
    ("Dijon", 47.322, 5.0415, 2),
    ("Angers", 47.4784, -0.5632, 2),
    ("Brest", 48.3904, -4.4861, 2),
    ("Limoges", 45.8336, 1.2611, 2),
    ("Clermont-Ferrand", 45.7772, 3.087, 2),
    ("Tours", 47.3941, 0.6848, 2),
    ("Amiens", 49.8941, 2.2958, 2),
    ("Metz", 49.1193, 6.1757, 2),
    ("Besançon", 47.2378, 6.0241, 1),
    ("Orléans", 47.9029, 1.9093, 1),
    ("Rouen", 49.4432, 1.0999, 2),
    ("Caen", 49.1829, -0.3707, 1),
    ("Nancy", 48.6921, 6.1844, 1),
    ("Poitiers", 46.5802, 0.3404, 1),
    ("Pau", 43.2951, -0.3708, 1),
    ("Perpignan", 42.6887, 2.8948, 1),
    ("Ajaccio", 41.9192, 8.7386, 1),
]
MODALITIES = [("CT", 0.25), ("MR", 0.25), ("US", 0.2), ("DX", 0.2), ("MG", 0.07), ("NM", 0.03)]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="1.0: 4,000 centres, 10,000 machines"
    )
    parser.add_argument("--days", type=int, default=30, help="horizon in days")
    parser.add_argument("--slot-minutes", type=int, default=20)
    parser.add_argument("--searches", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--radius-km", type=float, default=50.0)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/icds_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args()


def recreate_database(url: str) -> None:
    import psycopg2  # type: ignore[import-untyped]

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    assert "bench" in name, "the benchmark only drops databases whose name says 'bench'"
    admin = psycopg2.connect(
        host=parts.hostname,
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password or "",
        dbname="postgres",
    )
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()


def setup_django(args: argparse.Namespace) -> None:
    os.environ.update(
        DATABASE_URL=args.database_url,
        REDIS_URL=args.redis_url,
        CACHE_KEY_PREFIX="icds-bench",
        DEBUG="true",
        AVAILABILITY_HORIZON_DAYS=str(args.days),
        LOG_LEVEL="WARNING",
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imaging_cds.settings")
    import django

    django.setup()


def load(args: argparse.Namespace, rng: random.Random) -> tuple[int, int, int]:
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from scheduling.hours import DAY_KEYS

    call_command("migrate", verbosity=0)
    n_centres = max(10, round(4000 * args.scale))
    n_machines = max(n_centres, round(10000 * args.scale))
    weights = [t[3] for t in TOWNS]
    centres = io.StringIO()
    hours = json.dumps({day: [["08:00", "19:00"]] for day in WEEKDAYS})
    for i in range(1, n_centres + 1):
        town, lat, lon, _ = rng.choices(TOWNS, weights)[0]
        # Spread around the town: most within 25 km, some rural up to 80 km.
        dist = rng.expovariate(1 / 15) if rng.random() < 0.8 else rng.uniform(20, 80)
        angle = rng.uniform(0, 2 * math.pi)
        clat = lat + dist / 111.2 * math.cos(angle)
        clon = lon + dist / (111.2 * math.cos(math.radians(lat))) * math.sin(angle)
        kind = "public" if rng.random() < 0.3 else "private"
        sector = "sector_1" if kind == "public" or rng.random() < 0.6 else "sector_2"
        wheel = "t" if rng.random() < 0.85 else "f"
        centres.write(
            "\t".join(
                [
                    str(i),
                    f"Centre {i}",
                    kind,
                    sector,
                    f"{i} rue de la Santé",
                    "00000",
                    town,
                    f"{clat:.5f}",
                    f"{clon:.5f}",
                    "",
                    hours,
                    wheel,
                    "",
                    "",
                    "300",
                ]
            )
            + "\n"
        )
    centres.seek(0)
    machines = io.StringIO()
    machine_rows = []
    for j in range(1, n_machines + 1):
        centre_id = j if j <= n_centres else rng.randint(1, n_centres)
        modality = rng.choices([m for m, _ in MODALITIES], [w for _, w in MODALITIES])[0]
        open_bore = "t" if modality == "MR" and rng.random() < 0.15 else "f"
        weight = rng.choice([150, 150, 180, 200, 250])
        machines.write(
            f"{j}\t{centre_id}\tMachine {j}\t{modality}\t{open_bore}\tf\t{weight}\t"
            f"{'t' if rng.random() < 0.3 else 'f'}\tt\tf\t[]\t{args.slot_minutes}\t\n"
        )
        machine_rows.append(j)
    machines.seek(0)
    with connection.cursor() as cur:
        raw = cur.connection
        c = raw.cursor()
        c.copy_expert(
            "COPY scheduling_centre (id, name, kind, price_sector, address, postcode, town,"
            " latitude, longitude, phone, opening_hours, wheelchair_accessible,"
            " accessibility_notes, feed_url, feed_interval_seconds) FROM STDIN",
            centres,
        )
        c.copy_expert(
            "COPY scheduling_equipment (id, centre_id, name, modality, open_bore, wide_bore,"
            " table_max_weight_kg, paediatric, contrast_injection, sedation, procedure_codes,"
            " slot_minutes, fhir_schedule) FROM STDIN",
            machines,
        )
        c.execute("SELECT setval('scheduling_centre_id_seq', %s)", [n_centres])
        c.execute("SELECT setval('scheduling_equipment_id_seq', %s)", [n_machines])
    # Slots: what the own schedule generates (weekdays 08:00-19:00), keyed the same way,
    # so that the refresh cycle below is the steady state (idempotent, nothing to add).
    tz = timezone.get_current_timezone()
    now = timezone.now()
    today = timezone.localdate(now)
    day_slots: list[tuple[datetime, datetime, str]] = []
    step = timedelta(minutes=args.slot_minutes)
    for offset in range(args.days):
        day = today + timedelta(days=offset)
        if DAY_KEYS[day.weekday()] not in WEEKDAYS:
            continue
        cursor = datetime.combine(day, datetime.min.time(), tzinfo=tz).replace(hour=8)
        end = cursor.replace(hour=19)
        while cursor + step <= end:
            if cursor >= now:
                day_slots.append((cursor, cursor + step, f"own:{cursor.isoformat()}"))
            cursor += step
    stamp = now.isoformat()
    rendered = [
        f"{s.isoformat()}\t{e.isoformat()}\tfree\town\t{k}\t\\N\t\\N\t{stamp}\n"
        for s, e, k in day_slots
    ]
    total = 0
    with connection.cursor() as cur:
        c = cur.connection.cursor()
        batch = io.StringIO()
        for j in machine_rows:
            prefix = f"{j}\t"
            for line in rendered:
                batch.write(prefix)
                batch.write(line)
            total += len(rendered)
            if j % 500 == 0 or j == machine_rows[-1]:
                batch.seek(0)
                c.copy_expert(
                    'COPY scheduling_slot (equipment_id, start, "end", status, source,'
                    " external_id, held_until, held_by_id, updated_at) FROM STDIN",
                    batch,
                )
                batch = io.StringIO()
        c.execute("ANALYZE")
    return n_centres, n_machines, total


def redis_client(url: str):
    import redis

    return redis.Redis.from_url(url)


def key_bytes(client, pattern: str) -> tuple[int, int]:
    total = count = 0
    for key in client.scan_iter(match=pattern, count=1000):
        total += client.memory_usage(key) or 0
        count += 1
    return total, count


def refresh_cycle(args: argparse.Namespace, n_centres: int) -> float:
    from django.utils import timezone

    from scheduling.models import FeedState
    from scheduling.tasks import availability_refresh_all

    env = dict(os.environ)
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "imaging_cds",
                "worker",
                "--pool=solo",
                "--loglevel=WARNING",
                "-n",
                f"bench{i}@%h",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(args.workers)
    ]
    try:
        time.sleep(4)  # let the workers connect before the tasks are queued
        started = timezone.now()
        t0 = time.perf_counter()
        availability_refresh_all.delay()
        while True:
            done = FeedState.objects.filter(last_success_at__gte=started).count()
            if done >= n_centres:
                break
            if any(w.poll() is not None for w in workers):
                raise SystemExit("a Celery worker died during the refresh cycle")
            time.sleep(0.5)
        return time.perf_counter() - t0
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(timeout=30)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    args = parse_args()
    rng = random.Random(args.seed)
    recreate_database(args.database_url)
    setup_django(args)
    from django.core.cache import cache
    from django.db.models import Sum
    from django.test import override_settings

    from scheduling.availability import (
        PatientConstraints,
        PatientLocation,
        ProcedureNeed,
        available_options,
    )
    from scheduling.models import FeedState

    client = redis_client(args.redis_url)
    client.flushdb()
    t = time.perf_counter()
    n_centres, n_machines, n_slots = load(args, rng)
    load_s = time.perf_counter() - t
    print(f"loaded {n_centres} centres, {n_machines} machines, {n_slots:,} slots in {load_s:.0f} s")

    mem_before = int(client.info("memory")["used_memory"])
    cycle_s = refresh_cycle(args, n_centres)
    slots_seen = FeedState.objects.aggregate(n=Sum("last_slot_count"))["n"] or 0
    from scheduling.cache import index_rebuild

    index_rebuild()
    mem_after = int(client.info("memory")["used_memory"])
    prefix = "icds-bench:*:av:*"
    cache_bytes, cache_keys = key_bytes(client, prefix)
    print(f"refresh cycle: {cycle_s:.1f} s with {args.workers} workers")

    # Searches: an MRI (and a CT for one in four) near a town, the way a prescriber asks.
    mri = ProcedureNeed(code="MR-KNEE", modality="MR", duration_minutes=20)
    ct = ProcedureNeed(code="CT-CHEST", modality="CT", duration_minutes=20)
    towns = [(name, lat, lon) for name, lat, lon, _ in TOWNS]
    timings: list[float] = []
    option_counts = []
    for i in range(args.searches + 50):
        name, lat, lon = rng.choice(towns)
        procedures = [mri, ct] if i % 4 == 0 else [mri]
        t = time.perf_counter()
        result = available_options(
            procedures,
            PatientLocation(lat, lon, name),
            PatientConstraints(max_distance_km=args.radius_km),
        )
        elapsed = (time.perf_counter() - t) * 1000
        assert result.source == "cache", result.degraded_reason
        if i >= 50:  # the first searches warm connections up
            timings.append(elapsed)
            option_counts.append(len(result.options))
    paris = [
        available_options(
            [mri],
            PatientLocation(48.8566, 2.3522, "Paris"),
            PatientConstraints(max_distance_km=args.radius_km),
        )
        for _ in range(3)
    ][-1]
    db_timings = []
    dead = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    import logging

    logging.getLogger("scheduling").setLevel(logging.ERROR)  # one warning per fallback search
    with override_settings(CACHES=dead):
        for _ in range(30):
            name, lat, lon = rng.choice(towns)
            t = time.perf_counter()
            result = available_options(
                [mri],
                PatientLocation(lat, lon, name),
                PatientConstraints(max_distance_km=args.radius_km),
            )
            db_timings.append((time.perf_counter() - t) * 1000)
            assert result.source == "database"
    cache.close()

    per_worker = slots_seen / cycle_s / args.workers
    command = (
        f".venv/bin/python bench/scheduling_scale.py --scale {args.scale:g} --days {args.days} "
        f"--searches {args.searches} --workers {args.workers} --radius-km {args.radius_km:g} "
        f"--database-url {args.database_url} --redis-url {args.redis_url} --seed {args.seed}"
    )
    print()
    print("imaging-cds scheduling benchmark")
    print(
        f"  data: {n_centres:,} centres, {n_machines:,} machines,"
        f" {n_slots:,} free slots over {args.days} days"
    )
    print(
        f"  slot search from the cache ({len(timings)} searches, radius {args.radius_km:g} km,"
        f" MRI, plus CT one time in four):"
    )
    print(
        f"    p50 {statistics.median(timings):.2f} ms   p95 {percentile(timings, 0.95):.2f} ms"
        f"   p99 {percentile(timings, 0.99):.2f} ms   max {max(timings):.2f} ms"
    )
    print(
        f"    options per answer: median {statistics.median(option_counts):.0f};"
        f" Paris MRI: {paris.centres_consulted} centres consulted, {len(paris.options)} options"
    )
    print(
        f"  same search when Redis is down (database fallback, {len(db_timings)} searches):"
        f" p50 {statistics.median(db_timings):.1f} ms   p95 {percentile(db_timings, 0.95):.1f} ms"
    )
    print(
        f"  full refresh cycle ({n_centres:,} feeds, own schedules, {args.workers} Celery workers):"
        f" {cycle_s:.1f} s"
    )
    print(
        f"  refresh throughput: {per_worker:,.0f} slots/s per worker ({slots_seen:,} slots checked)"
    )
    print(
        f"  cache memory: {cache_bytes / 1e6:.1f} MB in {cache_keys:,} keys (MEMORY USAGE);"
        f" Redis used_memory delta {(mem_after - mem_before) / 1e6:+.1f} MB"
    )
    print(f"  reproduce: {command}")


if __name__ == "__main__":
    main()
