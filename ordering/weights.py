"""Versioned ranking weights: the published set, and publishing a new one."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from ordering.models import RankingWeightSet, WeightsStatus
from ordering.ranking import Weights

WEIGHT_NAMES = tuple(f.name for f in fields(Weights) if f.name != "version")


def weights_published() -> Weights:
    """The weights in force; the built-in defaults (version 0) until an editor publishes."""
    row = RankingWeightSet.objects.filter(status=WeightsStatus.PUBLISHED).first()
    if row is None:
        return Weights()
    values = {name: float(row.values[name]) for name in WEIGHT_NAMES if name in row.values}
    return Weights(version=row.version, **values)


def weights_publish(*, values: dict[str, Any], user: Any, reason: str) -> RankingWeightSet:
    errors: dict[str, str] = {}
    clean: dict[str, float] = {}
    for name in WEIGHT_NAMES:
        try:
            number = float(values[name])
        except (KeyError, TypeError, ValueError):
            errors[name] = _("Enter a number.")
            continue
        if not 0 <= number <= 1000 or (
            (name.endswith("_cap_days") or name.endswith("_cap_km")) and number <= 0
        ):
            errors[name] = _("Enter a number between 0 and 1000 (caps above 0).")
            continue
        clean[name] = number
    if not reason.strip():
        errors["reason"] = _("Say why the weights change.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        latest = RankingWeightSet.objects.select_for_update().order_by("-version").first()
        RankingWeightSet.objects.filter(status=WeightsStatus.PUBLISHED).update(
            status=WeightsStatus.ARCHIVED
        )
        row = RankingWeightSet(
            version=(latest.version if latest else 0) + 1,
            status=WeightsStatus.PUBLISHED,
            values=clean,
            created_by=user,
            reason=reason.strip(),
        )
        row.full_clean()
        row.save()
    return row
