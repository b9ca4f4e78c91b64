"""Writes on rule sets: clone, edit a draft rule, run golden cases, publish, roll back.

A published set is never edited in place; every change leaves a RuleChange row
saying who, when and why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from guidelines.conditions import conditions_parse
from guidelines.engine import CompiledRuleSet, evaluate, rule_set_compiled
from guidelines.models import (
    ChangeAction,
    GoldenCase,
    Rule,
    RuleSet,
    RuleSetStatus,
)
from guidelines.rulepack import conditions_normalise, golden_context
from guidelines.services.history import rule_change_record

# The fields of a rule an editor may change.
RULE_EDIT_FIELDS = (
    "conditions",
    "category",
    "evidence",
    "intention",
    "priority",
    "rationale_fr",
    "rationale_en",
    "source_document",
    "source_section",
    "source_year",
    "source_url",
    "repeat_interval_days",
    "review",
)


def rule_set_next_version() -> int:
    return (RuleSet.objects.aggregate(top=Max("version"))["top"] or 0) + 1


def rule_set_create(*, user: AbstractBaseUser | None, label: str = "") -> RuleSet:
    """A new, empty draft with the next version number."""
    return RuleSet.objects.create(
        version=rule_set_next_version(), label=label, created_by=user_or_none(user)
    )


def user_or_none(user: AbstractBaseUser | None) -> Any:
    return user if user is not None and user.is_authenticated else None


def rule_set_clone(*, rule_set: RuleSet, user: AbstractBaseUser, reason: str = "") -> RuleSet:
    """Copy a set (rules and golden cases) into a new draft the editor can change."""
    with transaction.atomic():
        draft = RuleSet.objects.create(
            version=rule_set_next_version(),
            label=rule_set.label,
            created_by=user_or_none(user),
            parent=rule_set,
        )
        rules = list(rule_set.rules.all())
        for rule in rules:
            rule.pk = None
            rule.rule_set = draft
        Rule.objects.bulk_create(rules, batch_size=1000)
        cases = list(rule_set.golden_cases.all())
        for case in cases:
            case.pk = None
            case.rule_set = draft
        GoldenCase.objects.bulk_create(cases, batch_size=1000)
        rule_change_record(
            rule_set=draft,
            action=ChangeAction.CLONE,
            user=user_or_none(user),
            reason=reason or f"Cloned from v{rule_set.version}",
            details={"from_version": rule_set.version},
        )
    return draft


def rule_values(rule: Rule) -> dict[str, Any]:
    return {name: getattr(rule, name) for name in RULE_EDIT_FIELDS}


def rule_validate(rule: Rule) -> None:
    """Model validation plus the condition vocabulary, as one ValidationError by field."""
    errors: dict[str, list[str]] = {}
    try:
        rule.full_clean(exclude=["rule_set", "indication", "procedure"])
    except ValidationError as exc:
        errors.update({k: [str(m) for m in v] for k, v in exc.message_dict.items()})
    flags = [flag["code"] for flag in rule.indication.red_flags or ()]
    _, condition_errors = conditions_parse(rule.conditions, red_flag_codes=flags)
    if condition_errors:
        errors.setdefault("conditions", []).extend(str(e) for e in condition_errors)
    if errors:
        raise ValidationError(errors)


def rule_update(*, rule: Rule, user: AbstractBaseUser, reason: str, values: dict[str, Any]) -> Rule:
    """Change a draft rule; refuses on a published or archived set."""
    if not reason.strip():
        raise ValidationError({"reason": ["Say why the rule changes."]})
    with transaction.atomic():
        rule_set = RuleSet.objects.select_for_update().get(pk=rule.rule_set_id)
        if not rule_set.is_draft:
            raise ValidationError("Only a draft rule set can be edited; clone it first.")
        before = rule_values(rule)
        for name, value in values.items():
            if name not in RULE_EDIT_FIELDS:
                raise ValidationError({name: ["This field cannot be edited."]})
            setattr(rule, name, conditions_normalise(value) if name == "conditions" else value)
        rule_validate(rule)
        rule.save()
        after = rule_values(rule)
        changed = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
        rule_change_record(
            rule_set=rule_set,
            rule_id=rule.pk,
            action=ChangeAction.RULE_UPDATE,
            user=user_or_none(user),
            reason=reason,
            details={"rule": str(rule), "changed": changed},
        )
    return rule


# --- Golden cases -----------------------------------------------------------------------


@dataclass(frozen=True)
class GoldenMismatch:
    procedure: str
    expected: str
    actual: str | None  # None: the engine did not rate this procedure


@dataclass(frozen=True)
class GoldenResult:
    name: str
    indication: str
    actual: dict[str, str | None]
    mismatches: tuple[GoldenMismatch, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.mismatches


def golden_case_check(
    *, name: str, indication: str, context: dict[str, Any], expect: dict[str, str],
    rules: CompiledRuleSet,
) -> GoldenResult:  # fmt: skip
    decision = evaluate(indication, golden_context(context), rules)
    actual: dict[str, str | None] = {}
    mismatches = []
    for procedure, expected in expect.items():
        rating = decision.rating(procedure)
        actual[procedure] = rating.category if rating else None
        if actual[procedure] != expected:
            mismatches.append(GoldenMismatch(procedure, expected, actual[procedure]))
    return GoldenResult(name, indication, actual, tuple(mismatches))


@dataclass
class GoldenRun:
    rule_set: RuleSet
    results: list[GoldenResult] = field(default_factory=list)

    @property
    def failures(self) -> list[GoldenResult]:
        return [r for r in self.results if not r.passed]


def golden_cases_run(*, rule_set: RuleSet, cases_from: RuleSet | None = None) -> GoldenRun:
    """Run a set's golden cases (or another set's, to compare) against it."""
    compiled = rule_set_compiled(rule_set)
    cases = (cases_from or rule_set).golden_cases.select_related("indication")
    run = GoldenRun(rule_set=rule_set)
    for case in cases:
        run.results.append(
            golden_case_check(
                name=case.name,
                indication=case.indication.code,
                context=case.context,
                expect=case.expect,
                rules=compiled,
            )
        )
    return run


# --- Publishing -------------------------------------------------------------------------


class PublishRefused(ValidationError):
    def __init__(self, run: GoldenRun) -> None:
        super().__init__(
            "Publishing is refused: golden cases fail. Fix them, or override with a reason."
        )
        self.run = run


def _failures_detail(run: GoldenRun) -> list[dict[str, Any]]:
    return [
        {
            "case": r.name,
            "mismatches": [
                {"procedure": m.procedure, "expected": m.expected, "actual": m.actual}
                for m in r.mismatches
            ],
        }
        for r in run.failures
    ]


def rule_set_publish(
    *, rule_set: RuleSet, user: AbstractBaseUser | None, reason: str, override_reason: str = ""
) -> RuleSet:
    """Put a draft in force; the one in force is archived. Refused while a golden case
    fails, unless `override_reason` says why (kept in the history)."""
    with transaction.atomic():
        rule_set = RuleSet.objects.select_for_update().get(pk=rule_set.pk)
        if not rule_set.is_draft:
            raise ValidationError("Only a draft can be published.")
        run = golden_cases_run(rule_set=rule_set)
        if run.failures and not override_reason.strip():
            raise PublishRefused(run)
        _put_in_force(rule_set, user)
        rule_change_record(
            rule_set=rule_set,
            action=ChangeAction.PUBLISH_OVERRIDE if run.failures else ChangeAction.PUBLISH,
            user=user_or_none(user),
            reason=override_reason if run.failures else (reason or "Published"),
            details={"failing_cases": _failures_detail(run), "note": reason},
        )
    return rule_set


def rule_set_rollback(*, rule_set: RuleSet, user: AbstractBaseUser, reason: str) -> RuleSet:
    """Put an earlier (archived) version back in force, as it was."""
    if not reason.strip():
        raise ValidationError({"reason": ["Say why you roll back."]})
    with transaction.atomic():
        rule_set = RuleSet.objects.select_for_update().get(pk=rule_set.pk)
        if rule_set.status != RuleSetStatus.ARCHIVED:
            raise ValidationError("Only an earlier, archived version can be put back in force.")
        current = RuleSet.objects.filter(status=RuleSetStatus.PUBLISHED).first()
        _put_in_force(rule_set, user)
        rule_change_record(
            rule_set=rule_set,
            action=ChangeAction.ROLLBACK,
            user=user_or_none(user),
            reason=reason,
            details={"from_version": current.version if current else None},
        )
    return rule_set


def _put_in_force(rule_set: RuleSet, user: AbstractBaseUser | None) -> None:
    # Archive first: the database allows one published set at a time.
    RuleSet.objects.select_for_update().filter(status=RuleSetStatus.PUBLISHED).update(
        status=RuleSetStatus.ARCHIVED
    )
    rule_set.status = RuleSetStatus.PUBLISHED
    rule_set.published_at = timezone.now()
    rule_set.published_by = user_or_none(user)
    rule_set.save(update_fields=["status", "published_at", "published_by"])


# --- Diff -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleDiffRow:
    key: tuple[str, str, str]  # indication, procedure, conditions
    before: Rule | None
    after: Rule | None
    fields: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        if self.before is None:
            return "added"
        if self.after is None:
            return "removed"
        return "changed"


def _rule_key(rule: Rule) -> tuple[str, str, str]:
    conditions = json.dumps(rule.conditions, sort_keys=True, ensure_ascii=False)
    return (rule.indication.code, rule.procedure.code, conditions)


def rule_set_diff(*, rule_set: RuleSet, base: RuleSet | None) -> list[RuleDiffRow]:
    """What a set changes against another (rules added, removed, changed)."""

    def keyed(rs: RuleSet | None) -> dict[tuple[str, str, str], list[Rule]]:
        out: dict[tuple[str, str, str], list[Rule]] = {}
        if rs is not None:
            for rule in rs.rules.select_related("indication", "procedure"):
                out.setdefault(_rule_key(rule), []).append(rule)
        return out

    before, after = keyed(base), keyed(rule_set)
    rows: list[RuleDiffRow] = []
    for key in sorted(set(before) | set(after)):
        olds, news = before.get(key, []), after.get(key, [])
        for index in range(max(len(olds), len(news))):
            old = olds[index] if index < len(olds) else None
            new = news[index] if index < len(news) else None
            if old is not None and new is not None:
                a, b = rule_values(old), rule_values(new)
                changed = tuple(k for k in RULE_EDIT_FIELDS if a[k] != b[k])
                if changed:
                    rows.append(RuleDiffRow(key, old, new, changed))
            else:
                rows.append(RuleDiffRow(key, old, new))
    return rows
