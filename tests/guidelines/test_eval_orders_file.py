"""Shape of the evaluation set of order texts (no database needed).

The pack's codes are read straight from the rule-pack YAML files, so the set
stays consistent with the pack it is meant to measure.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PACK_DIR = ROOT / "guidelines" / "data" / "rulepack"
EVAL_DIR = ROOT / "guidelines" / "data" / "understanding"

ENTRY_KEYS = {"id", "text", "lang", "indication", "red_flags", "no_red_flags_stated", "facts"}
REQUIRED_KEYS = {"id", "text", "lang", "indication"}
FACT_KEYS = {"duration_days", "age", "sex", "laterality", "hypothesis", "risk"}
RISKS = {
    "anticoagulant",
    "pregnancy",
    "cancer-history",
    "trauma",
    "immunosuppression",
    "contrast-allergy",
    "renal-failure",
    "mri-unsafe-implant",
    "claustrophobia",
}
MIN_ORDERS = 330
MIN_NULL_SHARE = 0.13
MIN_PER_INDICATION = 2


def _pack_red_flags() -> dict[str, set[str]]:
    """Indication code -> its red-flag codes, for every pack file."""
    codes: dict[str, set[str]] = {}
    for path in sorted(PACK_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for indication in data.get("indications") or []:
            flags = indication.get("red_flags") or []
            codes[indication["code"]] = {flag["code"] for flag in flags}
    return codes


@pytest.fixture(scope="module")
def pack() -> dict[str, set[str]]:
    codes = _pack_red_flags()
    assert codes, "no indication found in the rule pack"
    return codes


@pytest.fixture(scope="module")
def orders() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    paths = sorted(EVAL_DIR.glob("eval_orders*.yaml"))
    assert paths, "no evaluation file"
    for path in paths:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert isinstance(data, dict), path.name
        assert set(data) == {"orders"}, path.name
        assert isinstance(data["orders"], list), path.name
        entries.extend(data["orders"])
    return entries


def test_enough_orders(orders: list[dict[str, Any]]) -> None:
    assert len(orders) >= MIN_ORDERS


def test_entry_keys_and_types(orders: list[dict[str, Any]]) -> None:
    for entry in orders:
        assert isinstance(entry, dict), entry
        assert REQUIRED_KEYS <= set(entry) <= ENTRY_KEYS, entry.get("id")
        assert isinstance(entry["id"], str) and entry["id"], entry
        assert isinstance(entry["text"], str) and entry["text"].strip(), entry["id"]
        assert entry["lang"] in {"fr", "en"}, entry["id"]
        if "no_red_flags_stated" in entry:
            assert isinstance(entry["no_red_flags_stated"], bool), entry["id"]


def test_unique_ids_and_texts(orders: list[dict[str, Any]]) -> None:
    ids = Counter(entry["id"] for entry in orders)
    assert [i for i, n in ids.items() if n > 1] == []
    texts = Counter(entry["text"].strip().lower() for entry in orders)
    assert [t for t, n in texts.items() if n > 1] == []


def test_indications_are_pack_codes_or_null(
    orders: list[dict[str, Any]], pack: dict[str, set[str]]
) -> None:
    unknown = [
        (e["id"], e["indication"])
        for e in orders
        if e["indication"] is not None and e["indication"] not in pack
    ]
    assert unknown == []


def test_red_flags_belong_to_the_indication(
    orders: list[dict[str, Any]], pack: dict[str, set[str]]
) -> None:
    for entry in orders:
        if "red_flags" not in entry:
            continue
        flags = entry["red_flags"]
        assert entry["indication"] is not None, entry["id"]
        assert isinstance(flags, dict), entry["id"]
        assert set(flags) <= {"present", "absent"}, entry["id"]
        allowed = pack[entry["indication"]]
        present = flags.get("present") or []
        absent = flags.get("absent") or []
        assert isinstance(present, list) and isinstance(absent, list), entry["id"]
        assert set(present) <= allowed, (entry["id"], set(present) - allowed)
        assert set(absent) <= allowed, (entry["id"], set(absent) - allowed)
        assert not set(present) & set(absent), entry["id"]
        assert len(set(present)) == len(present) and len(set(absent)) == len(absent)


def test_facts_from_closed_lists(orders: list[dict[str, Any]]) -> None:
    for entry in orders:
        facts = entry.get("facts")
        if facts is None:
            continue
        assert isinstance(facts, dict) and facts, entry["id"]
        assert set(facts) <= FACT_KEYS, (entry["id"], set(facts) - FACT_KEYS)
        if "duration_days" in facts:
            value = facts["duration_days"]
            assert isinstance(value, int) and not isinstance(value, bool) and value >= 0
        if "age" in facts:
            value = facts["age"]
            assert isinstance(value, int) and not isinstance(value, bool), entry["id"]
            assert 0 <= value < 120, entry["id"]
        if "sex" in facts:
            assert facts["sex"] in {"F", "M"}, entry["id"]
        if "laterality" in facts:
            assert facts["laterality"] in {"right", "left", "bilateral"}, entry["id"]
        if "hypothesis" in facts:
            assert facts["hypothesis"] is True, entry["id"]
        if "risk" in facts:
            risk = facts["risk"]
            assert isinstance(risk, list) and risk, entry["id"]
            assert set(risk) <= RISKS, (entry["id"], set(risk) - RISKS)


def test_share_of_situations_outside_the_pack(orders: list[dict[str, Any]]) -> None:
    nulls = sum(1 for entry in orders if entry["indication"] is None)
    assert nulls / len(orders) >= MIN_NULL_SHARE


def test_every_pack_indication_is_covered(
    orders: list[dict[str, Any]], pack: dict[str, set[str]]
) -> None:
    counts = Counter(entry["indication"] for entry in orders)
    thin = {code: counts[code] for code in pack if counts[code] < MIN_PER_INDICATION}
    assert thin == {}
