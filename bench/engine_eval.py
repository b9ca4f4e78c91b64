"""Benchmark: engine evaluation and indication resolution on synthetic rule sets.

    .venv/bin/python bench/engine_eval.py [--sizes 1000 10000 100000] [--calls 20000]

Builds rule sets of 1,000, 10,000 and 100,000 synthetic rules (ten rules per
indication, over the real condition vocabulary), then prints p50/p99 of one
`evaluate` call and of one `resolve` call (a typed prefix, a word with a typo)
per size. No database: the compiled set is built in memory, as in production
after the first request.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imaging_cds.settings")

import django

django.setup()

from guidelines.conditions import conditions_parse  # noqa: E402
from guidelines.context import PatientContext, PriorExamFact  # noqa: E402
from guidelines.engine import (  # noqa: E402
    CompiledRule,
    CompiledRuleSet,
    IndicationInfo,
    ProcedureInfo,
    Source,
    evaluate,
    rule_set_build,
)
from guidelines.resolve import resolve  # noqa: E402

PROCEDURES = [
    ProcedureInfo("ct-head", "Scanner cérébral", "CT head", "CT", "none", 2),
    ProcedureInfo("ct-ap-contrast", "Scanner AP injecté", "CT AP", "CT", "iodinated", 3),
    ProcedureInfo("mr-brain", "IRM cérébrale", "MRI brain", "MR", "gadolinium", 0),
    ProcedureInfo("us-abdomen", "Échographie abdominale", "Abdominal US", "US", "none", 0),
    ProcedureInfo("dx-chest", "Radiographie thoracique", "Chest X-ray", "DX", "none", 1),
]
CONDITION_SETS = [
    {},
    {"age_min": 18},
    {"age_max": 17},
    {"red_flags_any": ["flag-a"]},
    {"pregnancy": ["yes"]},
    {"egfr_min": 30, "age_min": 50},
    {"red_flags_none": True},
    {"prior_within_days": 90},
    {"sex": "F", "age_min": 40},
    {"weight_max": 120, "claustrophobia": False},
]
CATEGORIES = [
    "indicated",
    "special_cases",
    "specialised",
    "not_indicated",
    "not_indicated_initially",
]
WORDS = [
    "douleur",
    "thoracique",
    "abdominale",
    "céphalée",
    "lombalgie",
    "traumatisme",
    "genou",
    "toux",
    "fièvre",
    "masse",
]


def build(size: int, rng: random.Random) -> CompiledRuleSet:
    indications = [
        IndicationInfo(
            code=f"ind-{i}",
            area="abdomen",
            label_fr=f"{rng.choice(WORDS)} {rng.choice(WORDS)} {i}",
            label_en=f"synthetic indication {i}",
            synonyms=(f"{rng.choice(WORDS)} syndrome{i}",),
            icd10_codes=(f"K{i % 100:02d}.{i % 10}",),
            red_flags=frozenset({"flag-a", "flag-b"}),
        )
        for i in range(max(1, size // 10))
    ]
    rules = []
    for n in range(size):
        indication = indications[n // 10 % len(indications)]
        parsed, errors = conditions_parse(CONDITION_SETS[n % 10], red_flag_codes=["flag-a"])
        assert not errors
        rules.append(
            CompiledRule(
                rule_id=n,
                indication_code=indication.code,
                procedure=PROCEDURES[n % len(PROCEDURES)],
                conditions=parsed,
                category=rng.choice(CATEGORIES),
                evidence="B",
                intention="first_line",
                priority="within_week",
                rationale_fr="…",
                rationale_en="…",
                source=Source("Synthetic", "", 2024),
                repeat_interval_days=30 if n % 3 == 0 else None,
                position=n,
            )
        )
    return rule_set_build(version=1, status="published", indications=indications, rules=rules)


def contexts(rng: random.Random, count: int) -> list[PatientContext]:
    today = date(2026, 3, 2)
    return [
        PatientContext(
            age_years=rng.randint(1, 95),
            sex=rng.choice(["F", "M"]),
            pregnancy=rng.choice(["no", "unknown", "yes"]),
            red_flags=frozenset(rng.sample(["flag-a", "flag-b"], rng.randint(0, 2))),
            egfr=rng.choice([None, 25.0, 60.0, 90.0]),
            weight_kg=rng.choice([None, 70.0, 130.0]),
            prior_exams=(
                PriorExamFact(
                    today - timedelta(days=rng.randint(1, 200)), "CT", procedure_code="ct-head"
                ),
            ),
            today=today,
        )
        for _ in range(count)
    ]


def percentiles(samples_ns: list[int]) -> tuple[float, float]:
    ordered = sorted(samples_ns)
    p50 = statistics.median(ordered) / 1000
    p99 = ordered[int(len(ordered) * 0.99) - 1] / 1000
    return p50, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    rng = random.Random(42)
    patients = contexts(rng, 500)
    print(
        f"{'rules':>8} {'indications':>11} {'build ms':>9} "
        f"{'eval p50 µs':>11} {'eval p99 µs':>11} {'resolve p50 µs':>14} {'resolve p99 µs':>14}"
    )
    for size in args.sizes:
        started = time.perf_counter()
        rules = build(size, rng)
        build_ms = (time.perf_counter() - started) * 1000
        codes = list(rules.entries)
        eval_ns = []
        for i in range(args.calls):
            code, patient = rng.choice(codes), patients[i % len(patients)]
            t0 = time.perf_counter_ns()
            evaluate(code, patient, rules)
            eval_ns.append(time.perf_counter_ns() - t0)
        resolve("warm up the index", rules)
        queries = ["douleur thor", "cephalee", "lombalgei", "K42.2", "traumatisme genou", "tou"]
        resolve_ns = []
        for i in range(max(600, args.calls // 20)):
            query = queries[i % len(queries)] + ("" if i < len(queries) else str(i % 7))
            t0 = time.perf_counter_ns()
            resolve(query, rules)
            resolve_ns.append(time.perf_counter_ns() - t0)
        e50, e99 = percentiles(eval_ns)
        r50, r99 = percentiles(resolve_ns)
        print(
            f"{size:>8} {len(codes):>11} {build_ms:>9.0f} "
            f"{e50:>11.1f} {e99:>11.1f} {r50:>14.1f} {r99:>14.1f}"
        )


if __name__ == "__main__":
    main()
