"""Cumulative effective dose of the last 12 months, estimated from dose classes.

A PACS rarely knows a study's effective dose, but the catalogue knows the dose
class of each procedure (0, I < 1, II 1–5, III 5–10, IV > 10 mSv). Summing the
classes' bounds gives a range, which is all we honestly know; studies we could
not map, or could not date, are listed rather than counted as zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.utils.translation import gettext, ngettext

from guidelines.models import DoseClass
from imaging_cds.vocab import IONISING_MODALITIES

WINDOW_DAYS = 365

# mSv bounds of each class; None: no upper bound.
CLASS_RANGE_MSV: dict[int, tuple[float, float | None]] = {
    DoseClass.NONE: (0.0, 0.0),
    DoseClass.I: (0.0, 1.0),
    DoseClass.II: (1.0, 5.0),
    DoseClass.III: (5.0, 10.0),
    DoseClass.IV: (10.0, None),
}


@dataclass(frozen=True)
class DoseItem:
    """One study of the window, as the estimate used it (or could not)."""

    study_uid: str
    performed_on: date | None
    modality: str
    description: str
    dose_class: int | None  # None: not mapped to a procedure, dose unknown


@dataclass(frozen=True)
class DoseEstimate:
    window_start: date
    window_end: date
    low_msv: float
    high_msv: float | None  # None when a class IV exam leaves the range open
    counted: tuple[DoseItem, ...]
    unmapped: tuple[DoseItem, ...]
    # False when some PACS did not answer: the sum may be missing exams.
    all_sources_answered: bool = True

    @property
    def complete(self) -> bool:
        return self.all_sources_answered and not self.unmapped

    def range_text(self) -> str:
        if self.high_msv is None:
            return gettext("more than %(low)s mSv") % {"low": _fmt(self.low_msv)}
        if self.high_msv == 0:
            return gettext("no ionising exposure")
        return gettext("%(low)s to %(high)s mSv") % {
            "low": _fmt(self.low_msv),
            "high": _fmt(self.high_msv),
        }

    def basis(self) -> str:
        """How the figure was reached, for the prescriber to judge it."""
        parts = [
            ngettext(
                "Sum of the dose classes of %(count)d exam of the last 12 months.",
                "Sum of the dose classes of %(count)d exams of the last 12 months.",
                len(self.counted),
            )
            % {"count": len(self.counted)}
        ]
        if self.unmapped:
            parts.append(
                ngettext(
                    "%(count)d ionising exam could not be identified and is not counted: %(list)s.",
                    "%(count)d ionising exams could not be identified and are not counted: "
                    "%(list)s.",
                    len(self.unmapped),
                )
                % {
                    "count": len(self.unmapped),
                    "list": "; ".join(_label(item) for item in self.unmapped),
                }
            )
        if not self.all_sources_answered:
            parts.append(gettext("Some PACS did not answer: exams may be missing."))
        return " ".join(parts)


def _fmt(value: float) -> str:
    return f"{value:g}"


def _label(item: DoseItem) -> str:
    when = item.performed_on.isoformat() if item.performed_on else gettext("undated")
    return f"{when} {item.modality} {item.description}".strip()


def dose_estimate(
    items: list[DoseItem], *, today: date, all_sources_answered: bool
) -> DoseEstimate:
    start = today - timedelta(days=WINDOW_DAYS)
    low = 0.0
    high: float | None = 0.0
    counted: list[DoseItem] = []
    unmapped: list[DoseItem] = []
    for item in items:
        if item.performed_on is not None and not start <= item.performed_on <= today:
            continue
        if item.performed_on is None or item.dose_class is None:
            # A non-ionising modality costs no dose whether we mapped it or not.
            if item.modality in IONISING_MODALITIES:
                unmapped.append(item)
            continue
        bounds = CLASS_RANGE_MSV[item.dose_class]
        low += bounds[0]
        high = None if high is None or bounds[1] is None else high + bounds[1]
        counted.append(item)
    return DoseEstimate(
        window_start=start,
        window_end=today,
        low_msv=low,
        high_msv=high,
        counted=tuple(counted),
        unmapped=tuple(unmapped),
        all_sources_answered=all_sources_answered,
    )
