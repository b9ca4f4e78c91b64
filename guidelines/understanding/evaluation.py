"""Measure the understanding stage on a labelled set of order texts
(guidelines/data/understanding/eval_orders.yaml): the same figures for the suite's
thresholds and for bench/understanding_eval.py."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from guidelines.engine import CompiledRuleSet
from guidelines.understanding import understand

EVAL_DIR = Path(__file__).resolve().parents[1] / "data" / "understanding"
EVAL_FILE = EVAL_DIR / "eval_orders.yaml"

# The goal of issue 13, on texts of situations the pack covers (and for red flags).
GOALS = {
    "top1": 0.85,
    "top3": 0.95,
    "red_flag_precision": 0.95,
    "red_flag_recall": 0.90,
}


def eval_files(directory: Path = EVAL_DIR) -> list[Path]:
    """eval_orders.yaml and its companions eval_orders_<area>.yaml: one file per
    batch of situations, so that texts for new situations are added beside the
    rules they measure."""
    return sorted(directory.glob("eval_orders*.yaml"))


def eval_orders(path: Path | None = None) -> list[dict[str, Any]]:
    paths = [path] if path is not None else eval_files()
    orders: list[dict[str, Any]] = []
    for one in paths:
        orders.extend(yaml.safe_load(one.read_text(encoding="utf-8"))["orders"])
    return orders


@dataclass
class Figures:
    texts: int = 0
    covered: int = 0
    top1: float = 0.0
    top3: float = 0.0
    offered: float = 0.0  # covered texts whose first suggestion is sure enough to be used
    honest_no_guideline: float = 0.0  # uncovered texts given "no guideline applies"
    confident_wrong: float = 0.0  # all texts: a sure first suggestion that is wrong
    red_flag_precision: float = 0.0
    red_flag_recall: float = 0.0
    negation_accuracy: float = 0.0  # read flags whose present/absent polarity is right
    latencies_ms: list[float] = field(default_factory=list)
    misses: list[tuple[str, str, str | None, str | None]] = field(default_factory=list)

    def below_goals(self) -> dict[str, tuple[float, float]]:
        return {
            name: (getattr(self, name), goal)
            for name, goal in GOALS.items()
            if getattr(self, name) < goal
        }


def _share(count: int, total: int) -> float:
    return count / total if total else 0.0


def _gold_flags(order: Mapping[str, Any]) -> set[tuple[str, bool]]:
    flags = order.get("red_flags") or {}
    return {(code, True) for code in flags.get("present") or ()} | {
        (code, False) for code in flags.get("absent") or ()
    }


def measure(orders: Iterable[Mapping[str, Any]], rules: CompiledRuleSet) -> Figures:
    figures = Figures()
    top1 = top3 = offered = honest = wrong = 0
    true_pos = predicted = expected = polarity_right = polarity_seen = 0
    for order in orders:
        figures.texts += 1
        gold = order.get("indication")
        started = time.perf_counter()
        reading = understand(str(order["text"]), rules)
        figures.latencies_ms.append((time.perf_counter() - started) * 1000)
        codes = [s.code for s in reading.suggestions]
        first = codes[0] if codes else None
        if reading.understood and first != gold:
            wrong += 1
        if gold is None:
            honest += not reading.understood
            if reading.understood:
                figures.misses.append((str(order["id"]), str(order["text"]), gold, first))
            continue
        figures.covered += 1
        top1 += first == gold
        top3 += gold in codes[:3]
        offered += reading.understood and first == gold
        if first != gold:
            figures.misses.append((str(order["id"]), str(order["text"]), gold, first))
        # Red flags are read for the labelled situation, so that a flag is judged on
        # its own words, not on the indication's ranking.
        present, absent = reading.flags_for(gold)
        read = {(c, True) for c in present} | {(c, False) for c in absent}
        wanted = _gold_flags(order)
        true_pos += len(read & wanted)
        predicted += len(read)
        expected += len(wanted)
        gold_codes = {code: polarity for code, polarity in wanted}
        for code, polarity in read:
            if code in gold_codes:
                polarity_seen += 1
                polarity_right += gold_codes[code] == polarity
    uncovered = figures.texts - figures.covered
    figures.top1 = _share(top1, figures.covered)
    figures.top3 = _share(top3, figures.covered)
    figures.offered = _share(offered, figures.covered)
    figures.honest_no_guideline = _share(honest, uncovered)
    figures.confident_wrong = _share(wrong, figures.texts)
    figures.red_flag_precision = _share(true_pos, predicted) if predicted else 1.0
    figures.red_flag_recall = _share(true_pos, expected) if expected else 1.0
    figures.negation_accuracy = _share(polarity_right, polarity_seen) if polarity_seen else 1.0
    return figures


def pack_rules() -> CompiledRuleSet:
    """The rule pack's indications, compiled straight from its files (no database, no
    rules): what the understanding stage reads."""
    from guidelines.engine import indication_info, rule_set_build
    from guidelines.models import Indication
    from guidelines.rulepack import pack_files, packs_parse

    fields = {f.name for f in Indication._meta.get_fields()}
    infos = [
        indication_info(Indication(**{k: v for k, v in row.items() if k in fields}))
        for document in packs_parse(pack_files())
        for row in document.indications
    ]
    return rule_set_build(version=0, status="draft", indications=infos, rules=[])
