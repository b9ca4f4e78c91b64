"""Small in-memory rule sets for the engine's unit tests (no database)."""

from __future__ import annotations

from datetime import date
from typing import Any

from guidelines.conditions import conditions_parse
from guidelines.engine import (
    CompiledRule,
    CompiledRuleSet,
    IndicationInfo,
    ProcedureInfo,
    Source,
    rule_set_build,
)

TODAY = date(2026, 3, 2)
PROCEDURES = {
    "ct-head": ProcedureInfo("ct-head", "Scanner cérébral", "CT head", "CT", "none", 2),
    "ct-abdomen-pelvis-contrast": ProcedureInfo(
        "ct-abdomen-pelvis-contrast", "Scanner AP injecté", "CT AP contrast", "CT", "iodinated", 3
    ),
    "mr-brain": ProcedureInfo("mr-brain", "IRM cérébrale", "MRI brain", "MR", "none", 0),
    "mr-brain-gadolinium": ProcedureInfo(
        "mr-brain-gadolinium", "IRM gado", "MRI gado", "MR", "gadolinium", 0
    ),
    "us-abdomen": ProcedureInfo("us-abdomen", "Écho abdo", "US abdomen", "US", "none", 0),
}
FLAGS = frozenset({"focal-deficit", "fever"})
INDICATION = IndicationInfo(
    code="headache",
    area="head_neuro",
    label_fr="Céphalée",
    label_en="Headache",
    red_flags=FLAGS,
)


def rule(procedure: str, category: str = "indicated", position: int = 0, **conditions: Any):
    repeat = conditions.pop("_repeat", None)
    parsed, errors = conditions_parse(conditions, red_flag_codes=FLAGS)
    assert not errors, errors
    return CompiledRule(
        rule_id=position,
        indication_code="headache",
        procedure=PROCEDURES[procedure],
        conditions=parsed,
        category=category,
        evidence="B",
        intention="first_line",
        priority="urgent",
        rationale_fr=f"règle {position}",
        rationale_en=f"rule {position}",
        source=Source("Test guide", "Test", 2013),
        repeat_interval_days=repeat,
        position=position,
    )


def rule_set(*rules: CompiledRule, version: int = 1) -> CompiledRuleSet:
    other = IndicationInfo("no-rules", "abdomen", "Sans règle", "No rule")
    return rule_set_build(
        version=version, status="published", indications=[INDICATION, other], rules=rules
    )
