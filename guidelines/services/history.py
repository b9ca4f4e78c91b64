"""Every guideline change leaves two records: a RuleChange in the rule set's own
history (what the authoring pages show) and an AuditEvent in the trail that the
hospital admin searches beside patient-data access."""

from __future__ import annotations

from typing import Any

from guidelines.models import RuleChange
from imaging_cds.audit import audit_record


def rule_change_record(**fields: Any) -> RuleChange:
    change = RuleChange.objects.create(**fields)
    audit_record(
        action=f"guideline.{change.action}",
        user=change.user,
        object_type="rule_set",
        object_id=change.rule_set.version,
        reason=change.reason,
        detail={"rule_change_id": change.pk, "rule_id": change.rule_id},
    )
    return change
