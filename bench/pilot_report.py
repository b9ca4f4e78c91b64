"""Server time of the pilot report over many decisions, beside a bare COUNT(*).

    .venv/bin/python bench/pilot_report.py                  # 1,000,000 decisions
    .venv/bin/python bench/pilot_report.py --rows 100000    # quick check

Creates a database whose name says 'bench', migrates it, COPYs ``--rows``
consultations and their pilot measures (half silent, half active, over eight weeks,
realistic shares of ratings, cards and answers), ANALYZEs, then times in-process:

  * ``SELECT COUNT(*)`` over the measures (the floor: one pass over the table);
  * the report's figures (ordering.pilot.report.pilot_report: one grouped count,
    then the medians and 90th percentiles by percentile_disc), all periods;
  * the same for the last four weeks (the index ordering_measure_mode_day);
  * the whole page as the medical director gets it, and one of its plots (each
    plot is a request of its own).

It prints p50 and max of each and the command that reproduces them.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scheduling_scale import recreate_database, setup_django  # noqa: E402
from bench.stats import percentile  # noqa: E402

CHUNK = 100_000
INDICATIONS = [f"indication-{i:03d}" for i in range(70)]
SERVICES = ["", "Urgences", "Médecine générale Nord", "Médecine générale Sud"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/icds_bench_pilot"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--seed", type=int, default=18)
    args = parser.parse_args()
    args.days = 14  # what setup_django passes on as the availability horizon
    return args


def _rows(
    rng: random.Random, start: int, count: int, user_ids: list[int], now: datetime
) -> tuple[str, str]:
    consultations, measures = io.StringIO(), io.StringIO()
    for n in range(start, start + count):
        pk = uuid.UUID(int=rng.getrandbits(128), version=4)
        at = now - timedelta(seconds=rng.uniform(0, 56 * 86400))
        mode = "silent" if at < now - timedelta(days=28) else "active"
        who = rng.choice(user_ids)
        code = rng.choice(INDICATIONS)
        draw = rng.random()
        rating = "no_guideline" if draw < 0.1 else ("not_indicated" if draw < 0.3 else "indicated")
        hook = rng.random() < 0.55
        shown_at = at + timedelta(seconds=rng.lognormvariate(0, 0.5) * (0.6 if hook else 1.8))
        signed = not hook and rating == "indicated" and rng.random() < 0.93
        signed_at = (
            (shown_at + timedelta(seconds=rng.lognormvariate(0, 0.6) * 45)) if signed else None
        )
        answer = "accepted" if signed else ""
        if hook and mode == "active" and rating == "not_indicated":
            answer = rng.choice(["changed", "overridden", "overridden", ""])
        reason = "clinical-context" if answer == "overridden" else ""
        interruptive = (
            hook and mode == "active" and rating == "not_indicated" and rng.random() < 0.5
        )
        consultations.write(
            f"{pk}\t{who}\t{at.isoformat()}\tbench:{n:012d}\t{code}\t{{}}\t{{}}\t1\t0\t\t\t\\N\n"
        )
        measures.write(
            "\t".join(
                [
                    str(pk),
                    "cds_hooks" if hook else "page",
                    str(who),
                    mode,
                    rng.choice(SERVICES),
                    code,
                    at.isoformat(),
                    shown_at.isoformat(),
                    signed_at.isoformat() if signed_at else "\\N",
                    "",
                    "",
                    rating,
                    "t" if mode == "active" else "f",
                    "t" if interruptive else "f",
                    answer,
                    reason,
                    "\\N",
                ]
            )
            + "\n"
        )
    return consultations.getvalue(), measures.getvalue()


def load(args: argparse.Namespace, rng: random.Random) -> None:
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    user_ids = [User.objects.create(username=f"bench-gp-{i}").pk for i in range(200)]
    now = datetime.now(UTC)
    consultation_columns = (
        "id, prescriber_id, created_at, patient_ref, indication_code, inputs, outputs, "
        "rule_set_version, weights_version, prior_status, availability_source, "
        "availability_age_seconds"
    )
    measure_columns = (
        "consultation_id, channel, prescriber_id, mode, service, indication_code, decided_at, "
        "options_shown_at, signed_at, requested_procedure_code, procedure_code, rating, "
        "card_shown, card_interruptive, answer, override_reason, answered_at"
    )
    with connection.cursor() as cursor:
        raw = cursor.cursor
        for start in range(0, args.rows, CHUNK):
            consultations, measures = _rows(
                rng, start, min(CHUNK, args.rows - start), user_ids, now
            )
            raw.copy_expert(
                f"COPY ordering_consultation ({consultation_columns}) FROM STDIN",
                io.StringIO(consultations),
            )
            raw.copy_expert(
                f"COPY ordering_decisionmeasure ({measure_columns}) FROM STDIN",
                io.StringIO(measures),
            )
        cursor.execute("ANALYZE ordering_consultation")
        cursor.execute("ANALYZE ordering_decisionmeasure")


def timed(action: object, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        action()  # type: ignore[operator]
        times.append((time.perf_counter() - began) * 1000)
    return times


def _medical_director_client() -> Any:
    """An in-process client signed in as a medical director (the report's reader)."""
    from django.contrib.auth.models import Group, User
    from django.test import Client

    director = User.objects.create_user("bench-director", password=uuid.uuid4().hex)
    director.groups.add(Group.objects.get(name="medical_director"))
    browser = Client()
    browser.force_login(director)
    return browser


def main() -> None:
    args = parse_args()
    rng = random.Random(args.seed)
    recreate_database(args.database_url)
    setup_django(args)
    began = time.perf_counter()
    load(args, rng)
    print(f"loaded {args.rows:,} decisions in {time.perf_counter() - began:.0f} s")

    from django.db import connection
    from django.utils import timezone

    from ordering.pilot.report import Filters, pilot_report

    def count() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM ordering_decisionmeasure")
            cursor.fetchone()

    since = timezone.localdate() - timedelta(days=28)
    browser = _medical_director_client()

    def page(path: str) -> None:
        response = browser.get(path, HTTP_HOST="127.0.0.1")
        assert response.status_code == 200, response.status_code
        response.content  # noqa: B018  (the whole body rendered)

    runs = {
        "bare COUNT(*) over the measures": lambda: count(),
        "pilot report, all periods": lambda: pilot_report(Filters()),
        "pilot report, last 4 weeks": lambda: pilot_report(Filters(since=since)),
        # The page as the medical director gets it: figures, breakdowns, template.
        "GET /reports/pilot/ (the page)": lambda: page("/reports/pilot/"),
        # Each plot is its own request (an <img> of the page).
        "GET a time plot (SVG)": lambda: page("/reports/pilot/plot/to_options.svg"),
    }
    for name, action in runs.items():
        action()  # warm the cache and the plans
        times = timed(action, args.repeat)
        print(f"{name:<36} p50 {percentile(times, 0.5):8.0f} ms   max {max(times):8.0f} ms")
    print(
        f"command: .venv/bin/python bench/pilot_report.py --rows {args.rows} --repeat {args.repeat}"
    )


if __name__ == "__main__":
    main()
