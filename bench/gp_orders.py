"""A GP's five orders in real Chromium, measured (issue 15): per order, the interactions
after the patient is known, the keystrokes, the seconds, how it completed and whether
everything important sat above the fold at 1366×768.

    .venv/bin/python bench/gp_orders.py                 # runs the Chromium test, then prints
    .venv/bin/python bench/gp_orders.py --no-run        # prints the last run's figures

The test is tests/browser/test_gp_orders.py; it writes test-artifacts/gp-orders.json and
a screenshot per order (test-artifacts/screenshots/gp-order-N-*.png). It needs the
database, Redis and Orthanc the browser tests need: DATABASE_URL, REDIS_URL and
CACHE_KEY_PREFIX are passed on from the environment (or --database-url/--redis-url).
Interactions are clicks, selects, checks and fills, each counted once; "after" starts
when the indication is typed. Seconds are the automated browser's wall time (what the
server and the page cost a GP), not a human's reading and typing time.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stats import percentile  # noqa: E402

FIGURES = ROOT / "test-artifacts" / "gp-orders.json"
TEST = "tests/browser/test_gp_orders.py"
GOAL_INTERACTIONS = 6


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--no-run", action="store_true", help="print the last run's figures")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"))
    parser.add_argument("--cache-key-prefix", default=os.environ.get("CACHE_KEY_PREFIX"))
    return parser.parse_args()


def run_test(args: argparse.Namespace) -> tuple[int, list[str]]:
    env = dict(os.environ, CI="true")
    for name, value in (
        ("DATABASE_URL", args.database_url),
        ("REDIS_URL", args.redis_url),
        ("CACHE_KEY_PREFIX", args.cache_key_prefix),
    ):
        if value:
            env[name] = value
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEST]
    FIGURES.unlink(missing_ok=True)
    done = subprocess.run(command, cwd=ROOT, env=env, check=False)
    shown = [f"{n}={shlex.quote(env[n])}" for n in ("DATABASE_URL", "REDIS_URL") if n in env]
    return done.returncode, [*shown, *map(shlex.quote, command)]


def table(orders: list[dict[str, Any]]) -> str:
    head = (
        f"{'#':<2} {'order':<46} {'before':>6} {'after':>5} {'keys':>5} {'s':>6} "
        f"{'s after':>7}  {'completed':<32} {'above fold':<10}"
    )
    lines = [head, "-" * len(head)]
    for o in orders:
        how = o["how"] if o["completed"] else "NOT COMPLETED"
        lines.append(
            f"{o['order']:<2} {o['title'][:46]:<46} {o['before']:>6} {o['after']:>5} "
            f"{o['keystrokes_after']:>5} {o['seconds']:>6.2f} {o['seconds_after']:>7.2f}  "
            f"{how[:32]:<32} {'yes' if o['above_fold'] else 'NO':<10}"
        )
    lines.append("-" * len(head))

    def figure(field: str, share: float | None) -> float:
        values = [float(o[field]) for o in orders]
        return float(statistics.median(values)) if share is None else percentile(values, share)

    for name, share in (("median", None), ("p90", 0.9)):
        lines.append(
            f"{'':<2} {name:<46} {figure('before', share):>6.1f} {figure('after', share):>5.1f} "
            f"{figure('keystrokes_after', share):>5.0f} {figure('seconds', share):>6.2f} "
            f"{figure('seconds_after', share):>7.2f}"
        )
    return "\n".join(lines)


def main() -> int:
    args = parse_args()
    status: int = 0
    command: list[str] = []
    if not args.no_run:
        status, command = run_test(args)
    if not FIGURES.exists():
        print(f"No figures at {FIGURES}: the test did not get far enough to write them.")
        return status or 1
    data = json.loads(FIGURES.read_text(encoding="utf-8"))
    orders: list[dict[str, Any]] = data["orders"]
    size = data["viewport"]
    print(f"\nA GP's five orders in Chromium, {size['width']}×{size['height']}, French\n")
    print(table(orders))
    print(
        "\nbefore/after: interactions (clicks, selects, checks, fills) before and after the"
        "\npatient is known (after = from typing the indication); keys: keystrokes typed"
        "\nafter; s: wall time of the whole order, s after: from typing the indication."
    )
    over = [o for o in orders if o["after"] > GOAL_INTERACTIONS]
    print(
        f"\nGoal ≤ {GOAL_INTERACTIONS} interactions after the patient is known: "
        + ("met by every order." if not over else f"missed by {[o['order'] for o in over]}.")
    )
    for o in orders:
        if o["below_fold"]:
            print(f"Order {o['order']} below the fold: {'; '.join(o['below_fold'])}")
        if o.get("first_action_bottom"):
            print(
                f"Order {o['order']}: the first exam's first button ends at "
                f"{o['first_action_bottom']} px"
            )
    print("\nScreenshots: test-artifacts/screenshots/gp-order-<n>-decision.png (the fold),")
    print("             test-artifacts/screenshots/gp-order-<n>-done.png (where it completed)")
    print("\nReproduce:")
    print("  " + (" ".join(command) if command else f"{sys.executable} bench/gp_orders.py"))
    if status:
        print(f"\nThe test FAILED (pytest exit {status}): see its output above.")
    return status


if __name__ == "__main__":
    sys.exit(main())
