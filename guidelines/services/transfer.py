"""Import and export a whole rule set as YAML or JSON.

The export is a rule pack (FORMAT.md) carrying every indication, declared
procedure, rule and golden case of the set, plus `format`, `version` and `label`;
each indication names its own area. Importing it creates a new draft. A file is
validated whole before anything is written, and written in one transaction: a
malformed file changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from guidelines.models import ChangeAction, Procedure, RuleSet
from guidelines.rulepack import documents_parse, documents_write
from guidelines.services.history import rule_change_record
from guidelines.services.rulesets import rule_set_create, user_or_none

EXPORT_FORMAT = "imaging-cds/rule-set/1"
MAX_IMPORT_BYTES = 5 * 1024 * 1024


def rule_set_document(rule_set: RuleSet) -> dict[str, Any]:
    rules = list(
        rule_set.rules.select_related("indication", "procedure").order_by("position", "id")
    )
    cases = list(rule_set.golden_cases.select_related("indication").order_by("position", "id"))
    indications = {r.indication.code: r.indication for r in rules}
    indications.update({c.indication.code: c.indication for c in cases})
    procedure_codes = {r.procedure.code for r in rules}
    procedure_codes |= {code for c in cases for code in c.expect}
    procedures = Procedure.objects.filter(code__in=procedure_codes).order_by("code")
    return {
        "format": EXPORT_FORMAT,
        "version": rule_set.version,
        "label": rule_set.label,
        "procedures": [
            {
                "code": p.code,
                "modality": p.modality,
                "body_region": p.body_region,
                "contrast": p.contrast,
                "dose_class": p.dose_class,
                "duration_minutes": p.duration_minutes,
                "label_fr": p.label_fr,
                "label_en": p.label_en,
            }
            for p in procedures
        ],
        "indications": [
            {
                "code": i.code,
                "area": i.area,
                "label_fr": i.label_fr,
                "label_en": i.label_en,
                "synonyms": list(i.synonyms),
                "icd10_codes": list(i.icd10_codes),
                "snomed_codes": list(i.snomed_codes),
                "red_flags": list(i.red_flags),
                **({"duration_days": dict(i.duration_days)} if i.duration_days else {}),
            }
            for _, i in sorted(indications.items())
        ],
        "rules": [
            {
                "indication": r.indication.code,
                "procedure": r.procedure.code,
                "conditions": r.conditions,
                "category": r.category,
                "evidence": r.evidence,
                "intention": r.intention,
                "priority": r.priority,
                "rationale_fr": r.rationale_fr,
                "rationale_en": r.rationale_en,
                "source": {
                    "document": r.source_document,
                    "section": r.source_section,
                    "year": r.source_year,
                    "url": r.source_url,
                },
                **(
                    {"repeat_interval_days": r.repeat_interval_days}
                    if r.repeat_interval_days
                    else {}
                ),
                **({"review": r.review} if r.review else {}),
            }
            for r in rules
        ],
        "golden_cases": [
            {
                "name": c.name,
                "indication": c.indication.code,
                "context": c.context,
                "expect": c.expect,
            }
            for c in cases
        ],
    }


def rule_set_export(*, rule_set: RuleSet, fmt: str) -> str:
    document = rule_set_document(rule_set)
    if fmt == "json":
        return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=100)


def rule_set_import(
    *, text: str, fmt: str, filename: str, user: AbstractBaseUser, reason: str = ""
) -> RuleSet:
    """Create a new draft from an exported (or rule pack) file; all or nothing."""
    known = set(Procedure.objects.values_list("code", flat=True))
    documents = documents_parse([(filename, text, fmt)], known_procedures=known, export_format=True)
    with transaction.atomic():
        rule_set = rule_set_create(user=user, label=documents[0].label or f"Import of {filename}")
        rules, _ = documents_write(documents, rule_set=rule_set, update_catalogue=False)
        rule_change_record(
            rule_set=rule_set,
            action=ChangeAction.IMPORT,
            user=user_or_none(user),
            reason=reason or f"Imported from {filename}",
            details={"file": filename, "rules": rules},
        )
    return rule_set
