"""The pilot pages: the report (and its CSV) for the medical director and the hospital
admin, and the decision-support modes, changed with a reason."""

from __future__ import annotations

import csv
from typing import Any

from csp.decorators import csp_replace
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from guidelines.models import Indication
from imaging_cds.audit import audit_record
from imaging_cds.roles import MODE_CHANGERS, PILOT_READERS, can_see_prescriber_names, role_required
from ordering.models import CdsModeValue
from ordering.pilot.forms import CdsModeForm, ReportFilterForm
from ordering.pilot.modes import cds_mode_at, cds_mode_set, cds_modes_history
from ordering.pilot.pdf import pilot_report_pdf
from ordering.pilot.plots import shares_plot, times_plot
from ordering.pilot.report import (
    COMPARED,
    Figure,
    PilotReport,
    Proportion,
    Quantile,
    pilot_report,
    time_histogram,
)


def _cell(figure: Figure, value: Proportion | Quantile) -> dict[str, Any]:
    """One figure of one mode, in the unit it is read in (%, per 100 orders, seconds)."""
    scale = {"%": 100.0, "per100": 100.0, "s": 1.0}[figure.unit]
    if isinstance(value, Proportion):
        number, low, high = value.value, value.low, value.high
        count = f"{value.count} / {value.total}"
    else:
        number, low, high = value.value, value.low, value.high
        count = str(value.count)
    shown = None if number is None else number * scale
    return {
        "value": shown,
        "low": None if low is None else low * scale,
        "high": None if high is None else high * scale,
        "count": count,
        "met": figure.goal.met(number * (100.0 if figure.unit == "per100" else 1.0))
        if figure.goal is not None and number is not None
        else None,
    }


def _goal_text(figure: Figure) -> str:
    goal = figure.goal
    if goal is None:
        return ""
    sign = "≥" if goal.at_least else "≤"
    if figure.unit == "%":
        return f"{sign} {goal.value * 100:.0f} %"
    if figure.unit == "s":
        return f"{sign} {goal.value:.0f} s"
    return f"{sign} {goal.value:.0f}"


def _figure_rows(report: PilotReport) -> list[dict[str, Any]]:
    return [
        {
            "key": figure.key,
            "label": str(figure.label),
            "unit": figure.unit,
            "goal": _goal_text(figure),
            "cells": [_cell(figure, figure.by_mode[mode.value]) for mode in COMPARED],
        }
        for figure in report.figures
    ]


def _key_labels(request: HttpRequest, report: PilotReport) -> dict[str, dict[Any, str]]:
    """What each breakdown's keys are called: indications by their label, prescribers by
    name for the medical director and by a number for anyone else."""
    english = (get_language() or "fr").startswith("en")
    labels: dict[str, dict[Any, str]] = {"service": {}, "indication_code": {}, "prescriber": {}}
    for breakdown in report.breakdowns:
        keys = [row["key"] for row in breakdown.rows]
        if breakdown.dimension == "indication_code":
            found = Indication.objects.filter(code__in=keys).values_list(
                "code", "label_en" if english else "label_fr"
            )
            labels["indication_code"] = dict(found)
        elif breakdown.dimension == "prescriber":
            ids = sorted(k for k in keys if k is not None)
            if can_see_prescriber_names(request.user):
                users = get_user_model().objects.filter(pk__in=ids)
                labels["prescriber"] = {
                    u.pk: (u.get_full_name() or u.get_username()) for u in users
                }
            else:
                labels["prescriber"] = {
                    pk: _("Prescriber %(n)s") % {"n": n} for n, pk in enumerate(ids, 1)
                }
    return labels


def _breakdown_rows(request: HttpRequest, report: PilotReport) -> list[dict[str, Any]]:
    labels = _key_labels(request, report)
    titles = {
        "service": _("By service"),
        "indication_code": _("By indication"),
        "prescriber": _("By prescriber"),
    }
    tables = []
    for breakdown in report.breakdowns:
        names = labels[breakdown.dimension]
        rows = []
        for row in breakdown.rows:
            key = row["key"]
            name = names.get(key) or (str(key) if key not in (None, "") else _("(none)"))
            rows.append({"name": name, "modes": [row.get(mode.value) for mode in COMPARED]})
        rows.sort(key=lambda r: str(r["name"]))
        tables.append({"title": titles[breakdown.dimension], "rows": rows})
    return tables


@require_GET
@role_required(*PILOT_READERS)
def report_page(request: HttpRequest) -> HttpResponse:
    form = ReportFilterForm(request.GET or None)
    report = pilot_report(form.to_filters())
    context = {
        "form": form,
        "report": report,
        "modes": [mode.label for mode in COMPARED],
        "figures": _figure_rows(report),
        "reasons": [report.reasons[mode.value] for mode in COMPARED],
        "breakdowns": _breakdown_rows(request, report),
        "periods": [report.periods[mode.value] for mode in COMPARED],
        "totals": [report.totals[mode.value] for mode in COMPARED],
        "mode_now": CdsModeValue(cds_mode_at(service="", when=timezone.now())).label,
        "query": request.GET.urlencode(),
    }
    return render(request, "ordering/pilot_report.html", context)


def _csv_safe(text: str) -> str:
    # A cell starting with = + - @ is a formula to a spreadsheet: neutralise it.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


@require_GET
@role_required(*PILOT_READERS)
def report_csv(request: HttpRequest) -> HttpResponse:
    """The report's figures, one line per figure and mode, then the breakdowns: the same
    numbers as the page, for a spreadsheet."""
    form = ReportFilterForm(request.GET or None)
    report = pilot_report(form.to_filters())
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="pilot-report.csv"'
    writer = csv.writer(response)
    writer.writerow(
        ["section", "figure", "mode", "unit", "value", "count", "ci95_low", "ci95_high"]
    )
    for figure in _figure_rows(report):
        for mode, cell in zip(COMPARED, figure["cells"], strict=True):
            writer.writerow(
                [
                    "figure",
                    figure["key"],
                    mode.value,
                    figure["unit"],
                    _number(cell["value"]),
                    cell["count"],
                    _number(cell["low"]),
                    _number(cell["high"]),
                ]
            )
    for mode in COMPARED:
        for reason, share in report.reasons[mode.value]:
            writer.writerow(
                [
                    "override_reason",
                    _csv_safe(reason or "(none)"),
                    mode.value,
                    "share",
                    _number(share.value),
                    f"{share.count} / {share.total}",
                    _number(share.low),
                    _number(share.high),
                ]
            )
    labels = _key_labels(request, report)
    for breakdown in report.breakdowns:
        for row in breakdown.rows:
            name = labels[breakdown.dimension].get(row["key"]) or str(row["key"] or "")
            for mode in COMPARED:
                cell = row.get(mode.value)
                if cell is None:
                    continue
                coverage = cell["coverage"]
                writer.writerow(
                    [
                        f"coverage_by_{breakdown.dimension}",
                        _csv_safe(name),
                        mode.value,
                        "share",
                        _number(coverage.value),
                        f"{coverage.count} / {coverage.total}",
                        _number(coverage.low),
                        _number(coverage.high),
                    ]
                )
    audit_record(action="pilot_report.export", request=request, object_type="pilot_report")
    return response


@require_http_methods(["GET", "POST"])
@role_required(*MODE_CHANGERS)
def modes_page(request: HttpRequest) -> HttpResponse:
    """The periods declared, newest first, and a new one (with its reason)."""
    form = CdsModeForm(request.POST or None, initial={"starts_on": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            row = cds_mode_set(
                user=request.user,
                mode=data["mode"],
                service=data["service"],
                starts_on=data["starts_on"],
                ends_on=data["ends_on"],
                reason=data["reason"],
                request=request,
            )
        except ValidationError as error:
            for name, errors in error.message_dict.items():
                form.add_error(name if name in form.fields else None, errors)
        else:
            messages.success(
                request,
                _("%(mode)s from %(day)s: recorded.")
                % {"mode": CdsModeValue(row.mode).label, "day": row.starts_on.isoformat()},
            )
            return redirect("pilot:modes")
    context = {
        "form": form,
        "history": cds_modes_history()[:100],
        "mode_now": CdsModeValue(cds_mode_at(service="", when=timezone.now())).label,
    }
    return render(
        request,
        "ordering/pilot_modes.html",
        context,
        status=400 if request.method == "POST" else 200,
    )


PLOTS = ("shares", "to_options", "to_signature")


def _times_title(name: str) -> str:
    if name == "to_options":
        return _("Time from the indication to the options, per decision")
    return _("Time from the indication to the signature, per signed decision")


# matplotlib's SVG styles its shapes with style attributes: allowed in this image only,
# which carries no script (script-src stays 'none' here, as everything else).
# (django-csp types its decorators for views taking the request alone.)
@csp_replace(  # type: ignore[arg-type]
    {"default-src": ["'none'"], "script-src": ["'none'"], "style-src": ["'unsafe-inline'"]}
)
@require_GET
@role_required(*PILOT_READERS)
def report_plot(request: HttpRequest, name: str) -> HttpResponse:
    """A plot of the report, as an SVG image, under the same filters as the page."""
    if name not in PLOTS:
        raise Http404
    filters = ReportFilterForm(request.GET or None).to_filters()
    labels = [str(mode.label) for mode in COMPARED]
    if name == "shares":
        svg = shares_plot(pilot_report(filters), labels)
    else:
        svg = times_plot(time_histogram(filters, name), labels, _times_title(name))
    response = HttpResponse(svg, content_type="image/svg+xml")
    response["Cache-Control"] = "private, max-age=60"
    return response


@require_GET
@role_required(*PILOT_READERS)
def report_pdf(request: HttpRequest) -> HttpResponse:
    """The report on A4, with its plots, for the medical director to sign."""
    form = ReportFilterForm(request.GET or None)
    filters = form.to_filters()
    report = pilot_report(filters)
    labels = [str(mode.label) for mode in COMPARED]
    plots = [
        shares_plot(report, labels, fmt="png"),
        times_plot(
            time_histogram(filters, "to_options"), labels, _times_title("to_options"), fmt="png"
        ),
    ]
    chosen = [
        f"{form.fields[name].label}: {value}"
        for name, value in (form.cleaned_data.items() if form.is_bound and form.is_valid() else [])
        if value
    ]
    pdf = pilot_report_pdf(
        modes=labels,
        totals=[report.totals[mode.value] for mode in COMPARED],
        periods=[report.periods[mode.value] for mode in COMPARED],
        figures=_figure_rows(report),
        reasons=[report.reasons[mode.value] for mode in COMPARED],
        breakdowns=_breakdown_rows(request, report),
        plots=plots,
        filters_text=" · ".join(chosen),
    )
    audit_record(
        action="pilot_report.export",
        request=request,
        object_type="pilot_report",
        detail={"format": "pdf"},
    )
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = 'inline; filename="pilot-report.pdf"'
    return response
