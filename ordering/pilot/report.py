"""The pilot report: silent against active, each figure with its count and a 95 %
confidence interval. Every count and every quantile is computed by the database
(one grouped query for the counts, ordered-set aggregates for the quantiles on
PostgreSQL); Python only turns counts into intervals."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.postgres.fields import ArrayField
from django.db import connection
from django.db.models import (
    Aggregate,
    Case,
    CharField,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Max,
    Min,
    Q,
    QuerySet,
    Value,
    When,
)
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from ordering.models import (
    CdsModeValue,
    DecisionMeasure,
    PilotChannel,
    PrescriberAnswer,
    RatingClass,
)

Z95 = 1.959963984540054
# A page decision still unsigned this long after it was made was left: abandoned.
ABANDONED_AFTER = timedelta(hours=24)
COMPARED = (CdsModeValue.SILENT, CdsModeValue.ACTIVE)


@dataclass(frozen=True)
class Goal:
    """A target from issue 18: ``at_least`` (or at most) ``value``, in the figure's unit."""

    value: float
    at_least: bool

    def met(self, figure: float | None) -> bool | None:
        if figure is None:
            return None
        return figure >= self.value if self.at_least else figure <= self.value


@dataclass(frozen=True)
class Proportion:
    count: int
    total: int
    low: float | None
    high: float | None

    @property
    def value(self) -> float | None:
        return self.count / self.total if self.total else None


def wilson(count: int, total: int, z: float = Z95) -> Proportion:
    """Wilson score interval: right near 0 % and 100 % and on small counts, where the
    normal approximation gives impossible bounds."""
    if total == 0:
        return Proportion(count, total, None, None)
    p = count / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return Proportion(count, total, max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Quantile:
    """A quantile of a duration, in seconds, with a distribution-free 95 % interval
    (the order statistics around it: binomial ranks)."""

    q: float
    count: int
    value: float | None
    low: float | None
    high: float | None


def quantile_ranks(n: int, q: float, z: float = Z95) -> tuple[int, int, int]:
    """1-based ranks of the q-quantile and of its interval's bounds among n sorted values."""
    centre = max(1, math.ceil(n * q))
    spread = z * math.sqrt(n * q * (1 - q))
    low = max(1, math.floor(n * q - spread))
    high = min(n, math.ceil(n * q + spread))
    return centre, low, high


class PercentilesDisc(Aggregate):
    """PostgreSQL's ordered-set aggregate over an array of fractions: one sort gives
    every rank asked (for each, the first value whose rank reaches the fraction)."""

    function = "PERCENTILE_DISC"
    template = "%(function)s(ARRAY[%(fractions)s]) WITHIN GROUP (ORDER BY %(expressions)s)"
    allow_distinct = False

    def __init__(self, expression: Any, fractions: list[float], **extra: Any) -> None:
        # Literals built from floats computed here, never from input.
        literal = ", ".join(f"{float(f):.12f}" for f in fractions)
        super().__init__(
            expression,
            fractions=literal,
            output_field=ArrayField(DurationField()),
            **extra,
        )


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


def _values_at_ranks(
    rows: QuerySet[DecisionMeasure], column: str, n: int, ranks: list[int]
) -> list[float | None]:
    if connection.vendor == "postgresql":
        # percentile_disc(f) is the value of rank ceil(f × n): half a rank below each
        # rank keeps float rounding from stepping to the next one.
        fractions = [(rank - 0.5) / n for rank in ranks]
        found = rows.aggregate(values=PercentilesDisc(column, fractions))["values"] or []
        return [_seconds(value) for value in found]
    # SQLite (the embedded default) has no ordered-set aggregate: the database sorts
    # and each rank is read as one row at its offset.
    ordered = rows.order_by(column).values_list(column, flat=True)
    return [_seconds(ordered[rank - 1]) for rank in ranks]


def _quantiles(
    rows: QuerySet[DecisionMeasure], column: str, n: int, qs: tuple[float, ...]
) -> list[Quantile]:
    """The quantiles ``qs`` of a time over ``n`` rows that have it (n counted with the
    other figures), with their intervals: one sort."""
    if n == 0:
        return [Quantile(q, 0, None, None, None) for q in qs]
    ranks: list[int] = []
    for q in qs:
        ranks.extend(quantile_ranks(n, q))
    values = _values_at_ranks(rows.exclude(**{f"{column}__isnull": True}), column, n, ranks)
    return [
        Quantile(q, n, values[3 * i], values[3 * i + 1], values[3 * i + 2])
        for i, q in enumerate(qs)
    ]


@dataclass(frozen=True)
class Filters:
    since: date | None = None
    until: date | None = None
    service: str = ""
    channel: str = ""


def pilot_measures(filters: Filters, *, now: datetime | None = None) -> QuerySet[DecisionMeasure]:
    """The decisions the report counts, with the answer as the report reads it: a page
    decision never signed is abandoned once ABANDONED_AFTER has passed."""
    now = now or timezone.now()
    rows = DecisionMeasure.objects.filter(mode__in=COMPARED)
    if filters.since:
        rows = rows.filter(decided_at__gte=_day_start(filters.since))
    if filters.until:
        rows = rows.filter(decided_at__lt=_day_start(filters.until + timedelta(days=1)))
    if filters.service:
        rows = rows.filter(service=filters.service)
    if filters.channel:
        rows = rows.filter(channel=filters.channel)
    return rows.annotate(
        outcome=Case(
            When(~Q(answer=""), then=F("answer")),
            When(
                channel=PilotChannel.PAGE,
                signed_at__isnull=True,
                decided_at__lt=now - ABANDONED_AFTER,
                then=Value(PrescriberAnswer.ABANDONED.value),
            ),
            default=Value(""),
            output_field=CharField(),
        ),
        to_options=ExpressionWrapper(
            F("options_shown_at") - F("decided_at"), output_field=DurationField()
        ),
        to_signature=ExpressionWrapper(
            F("signed_at") - F("decided_at"), output_field=DurationField()
        ),
        # CDS Hooks: from the hook call to the EHR's feedback (the page's answer is its
        # signature, already above).
        to_answer=Case(
            When(
                channel=PilotChannel.CDS_HOOKS,
                then=ExpressionWrapper(
                    F("answered_at") - F("decided_at"), output_field=DurationField()
                ),
            ),
            default=None,
            output_field=DurationField(),
        ),
    )


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


CHANGED = Q(outcome__in=[PrescriberAnswer.CHANGED, PrescriberAnswer.ABANDONED])
FLAGGED = Q(rating=RatingClass.NOT_INDICATED)
RATED = Q(rating__in=[RatingClass.INDICATED, RatingClass.NOT_INDICATED])


def _counts() -> dict[str, Any]:
    return {
        "total": Count("pk"),
        "rated": Count("pk", filter=RATED),
        "flagged": Count("pk", filter=FLAGGED),
        "flagged_changed": Count("pk", filter=FLAGGED & CHANGED),
        "not_indicated_ordered": Count("pk", filter=FLAGGED & ~CHANGED),
        "interruptive": Count("pk", filter=Q(card_interruptive=True)),
        "cards": Count("pk", filter=Q(card_shown=True)),
        "overridden": Count("pk", filter=Q(outcome=PrescriberAnswer.OVERRIDDEN)),
        "signed": Count("pk", filter=Q(signed_at__isnull=False)),
        **{f"n_{column}": Count(column) for column in TIME_COLUMNS},
    }


@dataclass(frozen=True)
class Figure:
    key: str
    label: str | Promise
    unit: str  # "%" (a proportion), "per100", "s"
    goal: Goal | None
    by_mode: dict[str, Proportion | Quantile]


@dataclass
class Breakdown:
    dimension: str
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class PilotReport:
    filters: Filters
    figures: list[Figure]
    reasons: dict[str, list[tuple[str, Proportion]]]
    breakdowns: list[Breakdown]
    totals: dict[str, int]
    periods: dict[str, tuple[date | None, date | None]]


FIGURES: tuple[tuple[str, str | Promise, str, Goal | None], ...] = (
    ("coverage", _("Orders rated (coverage)"), "%", Goal(0.85, at_least=True)),
    ("not_indicated_ordered", _("Not-indicated exams ordered"), "%", None),
    ("flagged_changed", _("Flagged orders changed"), "%", Goal(0.10, at_least=True)),
    ("interruptive", _("Interruptive cards per 100 orders"), "per100", Goal(5.0, at_least=False)),
    ("cards", _("Orders with a card or ratings shown"), "%", None),
)
TIMES: tuple[tuple[str, str | Promise, float, Goal | None], ...] = (
    ("to_options", _("Time to the options, median"), 0.5, Goal(10.0, at_least=False)),
    ("to_options", _("Time to the options, 90th percentile"), 0.9, Goal(30.0, at_least=False)),
    ("to_signature", _("Time to the signature, median"), 0.5, None),
    ("to_signature", _("Time to the signature, 90th percentile"), 0.9, None),
    ("to_answer", _("Time to the EHR's feedback, median"), 0.5, None),
)


TIME_COLUMNS = tuple(dict.fromkeys(column for column, _label, _q, _goal in TIMES))


def _proportion(key: str, counts: dict[str, Any]) -> Proportion:
    total = counts["total"]
    match key:
        case "coverage":
            return wilson(counts["rated"], total)
        case "not_indicated_ordered":
            return wilson(counts["not_indicated_ordered"], total)
        case "flagged_changed":
            return wilson(counts["flagged_changed"], counts["flagged"])
        case "interruptive":
            return wilson(counts["interruptive"], total)
        case _:
            return wilson(counts[key], total)


def pilot_report(filters: Filters, *, now: datetime | None = None) -> PilotReport:
    rows = pilot_measures(filters, now=now)
    spans = {"first": Min("decided_at"), "last": Max("decided_at")}
    grouped: dict[str, dict[str, Any]] = {
        row["mode"]: dict(row) for row in rows.values("mode").annotate(**_counts(), **spans)
    }
    empty: dict[str, Any] = {**dict.fromkeys(_counts(), 0), "first": None, "last": None}
    counts = {mode.value: grouped.get(mode.value, empty) for mode in COMPARED}
    figures = [
        Figure(key, label, unit, goal, {m: _proportion(key, c) for m, c in counts.items()})
        for key, label, unit, goal in FIGURES
    ]
    # Every quantile of a time in one sort per mode.
    found: dict[tuple[str, str, float], Quantile] = {}
    for column in TIME_COLUMNS:
        qs = tuple(q for c, _label, q, _goal in TIMES if c == column)
        for mode in COMPARED:
            n = counts[mode.value][f"n_{column}"]
            for quantile in _quantiles(rows.filter(mode=mode), column, n, qs):
                found[(column, mode.value, quantile.q)] = quantile
    for column, label, q, goal in TIMES:
        by_mode: dict[str, Proportion | Quantile] = {
            mode.value: found[(column, mode.value, q)] for mode in COMPARED
        }
        figures.append(Figure(f"{column}_p{round(q * 100)}", label, "s", goal, by_mode))
    return PilotReport(
        filters=filters,
        figures=figures,
        reasons=_reasons(rows, counts),
        breakdowns=[_breakdown(rows, dimension) for dimension in BREAKDOWNS],
        totals={m: c["total"] for m, c in counts.items()},
        periods={m: _period(c) for m, c in counts.items()},
    )


def _reasons(
    rows: QuerySet[DecisionMeasure], counts: dict[str, dict[str, Any]]
) -> dict[str, list[tuple[str, Proportion]]]:
    found = (
        rows.filter(Q(outcome=PrescriberAnswer.OVERRIDDEN))
        .values("mode", "override_reason")
        .annotate(n=Count("pk"))
        .order_by("mode", "-n", "override_reason")
    )
    reasons: dict[str, list[tuple[str, Proportion]]] = {m.value: [] for m in COMPARED}
    for row in found:
        total = counts[row["mode"]]["overridden"]
        reasons[row["mode"]].append((row["override_reason"], wilson(row["n"], total)))
    return reasons


BREAKDOWNS = ("service", "indication_code", "prescriber")


def _breakdown(rows: QuerySet[DecisionMeasure], dimension: str) -> Breakdown:
    # Only what a breakdown line shows: each count is one more filter over every row.
    counts = {
        "total": Count("pk"),
        "rated": Count("pk", filter=RATED),
        "flagged": Count("pk", filter=FLAGGED),
        "flagged_changed": Count("pk", filter=FLAGGED & CHANGED),
    }
    found = rows.values(dimension, "mode").annotate(**counts).order_by(dimension, "mode")
    by_key: dict[Any, dict[str, Any]] = {}
    for row in found:
        entry = by_key.setdefault(row[dimension], {"key": row[dimension]})
        entry[row["mode"]] = {
            "total": row["total"],
            "coverage": wilson(row["rated"], row["total"]),
            "flagged_changed": wilson(row["flagged_changed"], row["flagged"]),
        }
    return Breakdown(dimension, list(by_key.values()))


def _period(counts: dict[str, Any]) -> tuple[date | None, date | None]:
    if counts["first"] is None:
        return None, None
    return timezone.localdate(counts["first"]), timezone.localdate(counts["last"])


# Edges of the time histogram, in seconds: the goals (10 s, 30 s) are edges.
TIME_EDGES = (1, 2, 5, 10, 30, 60, 120)


def time_histogram(filters: Filters, column: str) -> dict[str, list[int]]:
    """How many decisions fall in each interval of TIME_EDGES (and beyond the last),
    per mode: one grouped query."""
    bounds = [timedelta(seconds=edge) for edge in TIME_EDGES]
    buckets: dict[str, Any] = {}
    lower: timedelta | None = None
    for i, upper in enumerate([*bounds, None]):
        condition = Q(**{f"{column}__isnull": False})
        if lower is not None:
            condition &= Q(**{f"{column}__gte": lower})
        if upper is not None:
            condition &= Q(**{f"{column}__lt": upper})
        buckets[f"b{i}"] = Count("pk", filter=condition)
        lower = upper
    rows = pilot_measures(filters).values("mode").annotate(**buckets)
    found: dict[str, list[int]] = {}
    for row in rows:
        counts: dict[str, Any] = dict(row)
        found[counts["mode"]] = [counts[f"b{i}"] for i in range(len(bounds) + 1)]
    return {m.value: found.get(m.value, [0] * (len(bounds) + 1)) for m in COMPARED}
