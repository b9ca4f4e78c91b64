"""What every benchmark here needs to print its figures."""

from __future__ import annotations


def percentile(values: list[float], share: float) -> float:
    """The value below which ``share`` (0..1) of the values fall (nearest rank)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]
