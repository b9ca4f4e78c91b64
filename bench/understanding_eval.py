"""Benchmark: the understanding stage on the labelled order texts, and its latency.

    .venv/bin/python bench/understanding_eval.py                 # figures + misses
    .venv/bin/python bench/understanding_eval.py --sizes 68 1000 # latency at scale

Reads guidelines/data/understanding/eval_orders.yaml, compiles the rule pack's
indications straight from its files (no database), and prints: top-1 and top-3
accuracy on texts of situations the pack covers, the share offered as the
indication with certainty, the share of uncovered texts answered "no guideline
applies", the confident-wrong rate, red-flag precision and recall (negation
included), negation accuracy, and latency p50/p99 per text beside the resolver it
replaces (guidelines.resolve) in the same run. With --sizes, the indications are
copied (new codes, the same words plus a distinguishing word) up to each size, to
show how latency grows with the catalogue.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imaging_cds.settings")

import django

django.setup()

from bench.stats import percentile  # noqa: E402
from guidelines.engine import CompiledRuleSet, rule_set_build  # noqa: E402
from guidelines.resolve import resolve  # noqa: E402
from guidelines.understanding import index_for, understand  # noqa: E402
from guidelines.understanding.evaluation import (  # noqa: E402
    GOALS,
    eval_orders,
    measure,
    pack_rules,
)


def scaled(rules: CompiledRuleSet, size: int) -> CompiledRuleSet:
    infos = [entry.indication for entry in rules.entries.values()]
    out = list(infos)
    copy = 0
    while len(out) < size:
        base = infos[copy % len(infos)]
        copy += 1
        tag = f"variante{copy}"
        out.append(
            replace(
                base,
                code=f"{base.code}-{copy}",
                label_fr=f"{base.label_fr} {tag}",
                label_en=f"{base.label_en} {tag}",
            )
        )
    return rule_set_build(version=size, status="draft", indications=out[:size], rules=[])


def latency(rules: CompiledRuleSet, texts: list[str], rounds: int) -> tuple[list[float], ...]:
    index_for(rules)  # built once per rule set, as in a running server
    understood: list[float] = []
    resolved: list[float] = []
    for _ in range(rounds):
        for text in texts:
            started = time.perf_counter()
            understand(text, rules)
            understood.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            resolve(text, rules)
            resolved.append((time.perf_counter() - started) * 1000)
    return understood, resolved


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="*", default=[0, 1000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--misses", type=int, default=25, help="misses to list")
    args = parser.parse_args()
    orders = eval_orders()
    rules = pack_rules()
    started = time.perf_counter()
    index_for(rules)
    print(f"index built in {time.perf_counter() - started:.2f} s (French language data included)")
    figures = measure(orders, rules)
    uncovered = figures.texts - figures.covered
    print(f"\n{figures.texts} texts: {figures.covered} covered, {uncovered} not covered")
    print(f"  top-1                  {figures.top1:.1%}   (goal ≥ {GOALS['top1']:.0%})")
    print(f"  top-3                  {figures.top3:.1%}   (goal ≥ {GOALS['top3']:.0%})")
    print(f"  offered with certainty {figures.offered:.1%}")
    print(f"  uncovered → no guideline {figures.honest_no_guideline:.1%}")
    print(f"  confident wrong        {figures.confident_wrong:.1%}")
    print(
        f"  red flags: precision {figures.red_flag_precision:.1%} "
        f"(goal ≥ {GOALS['red_flag_precision']:.0%}), recall {figures.red_flag_recall:.1%} "
        f"(goal ≥ {GOALS['red_flag_recall']:.0%}), negation accuracy "
        f"{figures.negation_accuracy:.1%}"
    )
    if figures.misses and args.misses:
        print("\nmisses (id, expected, first suggestion, text):")
        for order_id, text, gold, first in figures.misses[: args.misses]:
            print(f"  {order_id}: {gold} → {first}: {text[:90]}")
    texts = [str(order["text"]) for order in orders]
    print("\nlatency per text (ms), understanding beside the resolver it replaces:")
    header = ("indications", "understand p50", "p99", "resolve p50", "p99")
    print("  {:>11}  {:>14}  {:>6}  {:>11}  {:>6}".format(*header))
    for size in args.sizes:
        sized = rules if size <= len(rules.entries) else scaled(rules, size)
        understood, resolved = latency(sized, texts, args.rounds)
        print(
            f"  {len(sized.entries):>11}  {percentile(understood, 0.5):>14.2f}  "
            f"{percentile(understood, 0.99):>6.2f}  {percentile(resolved, 0.5):>11.2f}  "
            f"{percentile(resolved, 0.99):>6.2f}"
        )
    below = figures.below_goals()
    if below:
        print(
            "\nbelow the goal: "
            + ", ".join(f"{k} {v:.1%} < {g:.0%}" for k, (v, g) in below.items())
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
