"""The report's plots, drawn on the server as SVG by matplotlib (no pyplot: no global
state shared between requests). Black, grey and hatching, so they read on paper."""

from __future__ import annotations

import io
import itertools
import textwrap
from collections.abc import Sequence
from contextlib import AbstractContextManager

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure as PlotFigure

from ordering.models import CdsModeValue
from ordering.pilot.report import (
    COMPARED,
    TIME_EDGES,
    PilotReport,
    Proportion,
)

# Silent: light grey, hatched; active: dark grey. Told apart without colour.
STYLES = {
    CdsModeValue.SILENT.value: ("#bbbbbb", "//"),
    CdsModeValue.ACTIVE.value: ("#333333", ""),
}
SHARES = ("coverage", "not_indicated_ordered", "flagged_changed", "interruptive")


def _style() -> AbstractContextManager[None]:
    return matplotlib.rc_context(
        {
            # Text stays text (smaller, selectable); ids are stable between drawings.
            "svg.fonttype": "none",
            "svg.hashsalt": "imaging-cds",
            "font.family": "DejaVu Sans",
            "font.size": 9,
        }
    )


def _bars(
    axes: Axes, xs: list[float], values: list[float], width: float, mode: str, label: str
) -> None:
    colour, hatch = STYLES[mode]
    axes.bar(xs, values, width, label=label, color=colour, hatch=hatch, edgecolor="#000000")


def _render(figure: PlotFigure, fmt: str) -> bytes:
    """SVG for the page; PNG at print resolution for the PDF (fpdf2 draws SVG text poorly)."""
    out = io.BytesIO()
    with _style():
        if fmt == "png":
            figure.savefig(out, format="png", dpi=200, bbox_inches="tight")
        else:
            figure.savefig(out, format="svg", bbox_inches="tight", metadata={"Date": None})
    return out.getvalue()


def shares_plot(report: PilotReport, mode_labels: Sequence[str], fmt: str = "svg") -> bytes:
    """The four shares, silent beside active, each with its 95 % interval and its goal."""
    with _style():
        figure = PlotFigure(figsize=(7.0, 3.2))
        axes = figure.add_subplot()
        by_key = {f.key: f for f in report.figures}
        positions = range(len(SHARES))
        width = 0.38
        for offset, (mode, label) in enumerate(zip(COMPARED, mode_labels, strict=True)):
            values, lows, highs = [], [], []
            for key in SHARES:
                share = by_key[key].by_mode[mode.value]
                assert isinstance(share, Proportion)
                value = share.value or 0.0
                values.append(value * 100)
                lows.append((value - (share.low or 0.0)) * 100)
                highs.append(((share.high or 0.0) - value) * 100)
            xs = [p + (offset - 0.5) * width for p in positions]
            _bars(axes, xs, values, width, mode.value, label)
            axes.errorbar(xs, values, yerr=[lows, highs], fmt="none", ecolor="#000000", capsize=3)
        for p, key in zip(positions, SHARES, strict=True):
            goal = by_key[key].goal
            if goal is not None:
                # Interruptive cards are per 100 orders: the same scale as a percentage.
                target = goal.value if by_key[key].unit == "per100" else goal.value * 100
                axes.hlines(target, p - width, p + width, colors="#000000", linestyles="dashed")
        names = [textwrap.fill(str(by_key[k].label), 20) for k in SHARES]
        axes.set_xticks(list(positions), names)
        axes.set_ylabel("%")
        axes.set_ylim(0, 100)
        axes.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        axes.spines[["top", "right"]].set_visible(False)
        return _render(figure, fmt)


def times_plot(
    histogram: dict[str, list[int]], mode_labels: Sequence[str], title: str, fmt: str = "svg"
) -> bytes:
    """The distribution of a time per decision, as a share of each mode's decisions."""
    with _style():
        figure = PlotFigure(figsize=(7.0, 2.8))
        axes = figure.add_subplot()
        edges = ["0", *[str(e) for e in TIME_EDGES]]
        names = [f"{a}–{b} s" for a, b in itertools.pairwise(edges)]
        names.append(f"> {TIME_EDGES[-1]} s")
        width = 0.38
        for offset, (mode, label) in enumerate(zip(COMPARED, mode_labels, strict=True)):
            counts = histogram[mode.value]
            total = sum(counts) or 1
            xs = [i + (offset - 0.5) * width for i in range(len(counts))]
            shares = [100 * c / total for c in counts]
            _bars(axes, xs, shares, width, mode.value, label)
        axes.set_xticks(range(len(names)), names)
        axes.set_ylabel("%")
        axes.set_title(title, loc="left")
        axes.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        axes.spines[["top", "right"]].set_visible(False)
        return _render(figure, fmt)
