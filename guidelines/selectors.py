"""Reads for the authoring pages."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from guidelines.models import Indication, Procedure, Rule, RuleChange, RuleSet


def rule_search(
    *, rule_set: RuleSet, q: str = "", procedure: str = "", category: str = "", area: str = ""
) -> QuerySet[Rule]:
    rules = Rule.objects.filter(rule_set=rule_set).select_related("indication", "procedure")
    if q:
        rules = rules.filter(
            Q(indication__code__icontains=q)
            | Q(indication__label_fr__icontains=q)
            | Q(indication__label_en__icontains=q)
        )
    if procedure:
        rules = rules.filter(
            Q(procedure__code__icontains=procedure)
            | Q(procedure__label_fr__icontains=procedure)
            | Q(procedure__label_en__icontains=procedure)
        )
    if category:
        rules = rules.filter(category=category)
    if area:
        rules = rules.filter(indication__area=area)
    return rules.order_by("indication__code", "position")


def rule_history(*, rule: Rule) -> QuerySet[RuleChange]:
    """Changes of this rule, and of the rules it was cloned from (same place in the set)."""
    return RuleChange.objects.filter(rule_id=rule.pk).select_related("user", "rule_set")


def rule_predecessors(*, rule: Rule) -> list[Rule]:
    """The same rule (same indication, procedure, position) in earlier versions."""
    return list(
        Rule.objects.filter(
            indication=rule.indication,
            procedure=rule.procedure,
            position=rule.position,
            rule_set__version__lt=rule.rule_set.version,
        )
        .select_related("rule_set")
        .order_by("-rule_set__version")
    )


def rule_set_history(*, rule_set: RuleSet | None = None) -> QuerySet[RuleChange]:
    changes = RuleChange.objects.select_related("user", "rule_set")
    return changes.filter(rule_set=rule_set) if rule_set is not None else changes


def indication_red_flags(*, code: str) -> list[dict[str, str]]:
    """An indication's red flags as the rule pack lists them, in order (code, labels,
    words): what the page shows and a card names."""
    indication = Indication.objects.filter(code=code).first() if code else None
    return list(indication.red_flags) if indication else []


def procedures_by_ccam(*, code: str) -> list[Procedure]:
    """The exams of the catalogue a CCAM code stands for (the verified codes loaded
    from guidelines/data/codes/ccam.yaml), by code. One CCAM act can stand for several
    of our exams (any joint ultrasound): the caller decides, or asks."""
    wanted = code.strip().upper()
    if not wanted:
        return []
    # Filtered here, not with JSONField `contains`: SQLite (the embedded default) lacks it,
    # and the catalogue is a few hundred rows at most.
    return [
        p
        for p in Procedure.objects.exclude(ccam_codes=[]).order_by("code")
        if wanted in p.ccam_codes
    ]
