"""The closed vocabulary of rule conditions (rule pack FORMAT.md).

A rule's conditions are data: a mapping from a key of this vocabulary to a typed
value. `conditions_parse` validates the mapping once (when a rule is loaded,
edited or compiled) and returns typed conditions; `condition_matches` tests one
against a patient context. Nothing here is ever evaluated as code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from guidelines.context import PatientContext, PriorExamFact

INT_KEYS = frozenset({"age_min", "age_max", "prior_within_days"})
NUMBER_KEYS = frozenset({"egfr_min", "egfr_max", "weight_min", "weight_max"})
BOOL_KEYS = frozenset({"mri_unsafe_implant", "contrast_allergy", "claustrophobia"})
CONDITION_KEYS = (
    INT_KEYS
    | NUMBER_KEYS
    | BOOL_KEYS
    | frozenset({"sex", "pregnancy", "red_flags_any", "red_flags_none"})
)
PREGNANCY_VALUES = ("yes", "no", "unknown")
# Pairs whose lower bound may not exceed the upper one.
_BOUNDS = (("age_min", "age_max"), ("egfr_min", "egfr_max"), ("weight_min", "weight_max"))


class ConditionError(ValueError):
    """One invalid condition: which key, and what is wrong with it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


@dataclass(frozen=True)
class Condition:
    key: str
    value: Any  # int | float | bool | str | frozenset[str], by key

    def describe(self) -> str:
        """A stable, readable form, e.g. ``age_min=18`` or ``pregnancy=[no,unknown]``."""
        if isinstance(self.value, frozenset):
            return f"{self.key}=[{','.join(sorted(self.value))}]"
        if isinstance(self.value, bool):
            return f"{self.key}={'true' if self.value else 'false'}"
        return f"{self.key}={self.value}"


def pregnancy_value(raw: Any) -> str | None:
    """YAML 1.1 reads an unquoted ``yes``/``no`` as a boolean: take both spellings."""
    if raw is True:
        return "yes"
    if raw is False:
        return "no"
    if isinstance(raw, str) and raw in PREGNANCY_VALUES:
        return raw
    return None


def _parse_one(key: str, raw: Any, red_flag_codes: frozenset[str]) -> Condition:
    if key in INT_KEYS:
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
            raise ConditionError(key, "must be a whole number, 0 or more")
        return Condition(key, raw)
    if key in NUMBER_KEYS:
        if isinstance(raw, bool) or not isinstance(raw, int | float) or raw < 0:
            raise ConditionError(key, "must be a number, 0 or more")
        return Condition(key, float(raw))
    if key in BOOL_KEYS:
        if not isinstance(raw, bool):
            raise ConditionError(key, "must be true or false")
        return Condition(key, raw)
    if key == "sex":
        if raw not in ("F", "M"):
            raise ConditionError(key, "must be F or M")
        return Condition(key, raw)
    if key == "pregnancy":
        if not isinstance(raw, list) or not raw:
            raise ConditionError(key, "must be a non-empty list of yes, no, unknown")
        values = [pregnancy_value(item) for item in raw]
        if None in values:
            raise ConditionError(key, "must be a non-empty list of yes, no, unknown")
        return Condition(key, frozenset(v for v in values if v is not None))
    if key == "red_flags_any":
        if not isinstance(raw, list) or not raw or not all(isinstance(i, str) for i in raw):
            raise ConditionError(key, "must be a non-empty list of the indication's red flags")
        unknown = sorted(set(raw) - red_flag_codes)
        if unknown:
            raise ConditionError(key, f"not a red flag of this indication: {', '.join(unknown)}")
        return Condition(key, frozenset(raw))
    if key == "red_flags_none":
        if raw is not True:
            raise ConditionError(key, "must be true")
        return Condition(key, True)
    raise ConditionError(key, "unknown condition (see the vocabulary in FORMAT.md)")


def conditions_parse(
    raw: Any, *, red_flag_codes: Iterable[str] = ()
) -> tuple[tuple[Condition, ...], list[ConditionError]]:
    """Validate a conditions mapping; returns the typed conditions and every error found."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        return (), [ConditionError("conditions", "must be a mapping ({} for everyone)")]
    flags = frozenset(red_flag_codes)
    parsed: list[Condition] = []
    errors: list[ConditionError] = []
    for key, value in raw.items():
        try:
            parsed.append(_parse_one(str(key), value, flags))
        except ConditionError as exc:
            errors.append(exc)
    values = {c.key: c.value for c in parsed}
    for low, high in _BOUNDS:
        if low in values and high in values and values[low] > values[high]:
            errors.append(ConditionError(low, f"is greater than {high}"))
    parsed.sort(key=lambda c: c.key)
    return tuple(parsed), errors


def condition_matches(
    condition: Condition,
    context: PatientContext,
    *,
    indication_red_flags: frozenset[str],
    procedure_code: str,
) -> bool:
    key, value = condition.key, condition.value
    if key == "age_min":
        return bool(context.age_years >= value)
    if key == "age_max":
        return bool(context.age_years <= value)
    if key == "sex":
        return bool(context.sex == value)
    if key == "pregnancy":
        return context.pregnancy in value
    if key == "red_flags_any":
        return not value.isdisjoint(context.red_flags)
    if key == "red_flags_none":
        return indication_red_flags.isdisjoint(context.red_flags)
    if key == "egfr_min":
        return context.egfr is not None and context.egfr >= value
    if key == "egfr_max":
        return context.egfr is not None and context.egfr <= value
    if key == "weight_min":
        return context.weight_kg is not None and context.weight_kg >= value
    if key == "weight_max":
        return context.weight_kg is not None and context.weight_kg <= value
    if key in BOOL_KEYS:
        return bool(getattr(context, key) == value)
    if key == "prior_within_days":
        return prior_exam_within(context, procedure_code, value) is not None
    raise AssertionError(f"unvalidated condition {key}")  # conditions_parse refuses these


def prior_exam_within(
    context: PatientContext, procedure_code: str, days: int
) -> PriorExamFact | None:
    """The most recent prior exam of this procedure at most `days` days before today."""
    best: PriorExamFact | None = None
    for prior in context.prior_exams:
        if prior.procedure_code != procedure_code:
            continue
        age = (context.today - prior.performed_on).days
        if 0 <= age <= days and (best is None or prior.performed_on > best.performed_on):
            best = prior
    return best
