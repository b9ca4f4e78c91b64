"""The pilot report on A4 for the medical director to read, annotate and sign: the
same figures as the page (ordering.pilot.views prepares them once for both), the
plots, the override reasons and the breakdowns. fpdf2, as the printed order."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from django.utils import formats, timezone
from django.utils.translation import gettext as _
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from ordering.order_pdf import LATIN1_SPELLING, pdf_font_dir

MARGIN = 15.0
# Lines of a breakdown on paper: the most frequent (the page and the CSV have them all).
BREAKDOWN_ROWS = 20


class _Report(FPDF):
    def __init__(self) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(True, margin=MARGIN)
        fonts = pdf_font_dir()
        regular, bold = fonts / "DejaVuSans.ttf", fonts / "DejaVuSans-Bold.ttf"
        self.unicode = regular.is_file() and bold.is_file()
        if self.unicode:
            self.add_font("Report", "", str(regular))
            self.add_font("Report", "B", str(bold))
            self.family = "Report"
        else:
            self.family = "Helvetica"
        self.set_title(_("Pilot report"))
        self.set_creator("imaging-cds")

    def fit(self, text: Any) -> str:
        text = str(text)
        if self.unicode:
            return text
        return text.translate(LATIN1_SPELLING).encode("latin-1", "replace").decode("latin-1")

    def font(self, size: float, bold: bool = False) -> None:
        self.set_font(self.family, "B" if bold else "", size)

    def heading(self, text: str) -> None:
        self.ln(2)
        self.font(11, True)
        self.set_fill_color(235, 235, 235)
        self.cell(0, 6, self.fit(text), fill=True, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(1)

    def paragraph(self, text: str, size: float = 9) -> None:
        self.font(size)
        self.multi_cell(0, 4.4, self.fit(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def rows(
        self, header: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[float]
    ) -> None:
        with self.table(col_widths=tuple(widths), text_align="LEFT", line_height=4.6) as table:
            self.font(8.5, True)
            first = table.row()
            for title in header:
                first.cell(self.fit(title))
            self.font(8.5)
            for values in rows:
                row = table.row()
                for value in values:
                    row.cell(self.fit(value))


def _volume(row: dict[str, Any]) -> int:
    return sum(cell["total"] for cell in row["modes"] if cell)


def _day(day: Any) -> str:
    return formats.date_format(day, "SHORT_DATE_FORMAT")


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    shown = formats.number_format(value, 1, use_l10n=True)
    return f"{shown}\u00a0%" if unit == "%" else (f"{shown}\u00a0s" if unit == "s" else shown)


def _cell_text(cell: dict[str, Any], unit: str) -> str:
    if cell["value"] is None:
        return f"— (n = {cell['count']})"
    low = formats.number_format(cell["low"], 1, use_l10n=True)
    high = formats.number_format(cell["high"], 1, use_l10n=True)
    return f"{_number(cell['value'], unit)} [{low}–{high}]\nn = {cell['count']}"


def pilot_report_pdf(
    *,
    modes: Sequence[str],
    totals: Sequence[int],
    periods: Sequence[tuple[Any, Any]],
    figures: Sequence[dict[str, Any]],
    reasons: Sequence[Sequence[tuple[str, Any]]],
    breakdowns: Sequence[dict[str, Any]],
    plots: Sequence[bytes],
    filters_text: str,
) -> bytes:
    """The report as PDF bytes; every argument is what the page shows, already
    labelled (prescribers named or numbered as the reader may see them)."""
    pdf = _Report()
    pdf.add_page()
    pdf.font(15, True)
    pdf.cell(
        0, 8, pdf.fit(_("Pilot report: silent against active")), new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    pdf.paragraph(
        _("Printed on %(day)s.") % {"day": formats.date_format(timezone.localdate(), "DATE_FORMAT")}
        + (f" {filters_text}" if filters_text else "")
    )
    spans = []
    for mode, total, (first, last) in zip(modes, totals, periods, strict=True):
        when = f"{_day(first)} – {_day(last)}" if first else "—"
        spans.append(
            _("%(mode)s: %(n)s decisions, %(when)s") % {"mode": mode, "n": total, "when": when}
        )
    pdf.paragraph(" · ".join(spans))
    pdf.paragraph(
        _(
            "In brackets: %(level)s confidence interval (Wilson for shares; order "
            "statistics for medians and percentiles); n: count behind the figure."
        )
        % {"level": "95\u00a0%"},
        size=8,
    )
    pdf.heading(_("Figures by mode"))
    pdf.rows(
        [_("Figure"), _("Goal (active)"), *modes],
        [
            [str(f["label"]), f["goal"], *[_cell_text(c, f["unit"]) for c in f["cells"]]]
            for f in figures
        ],
        (62, 22, 48, 48),
    )
    pdf.heading(_("Plots"))
    for image in plots:
        pdf.image(io.BytesIO(image), w=170)
        pdf.ln(2)
    pdf.heading(_("Override reasons"))
    for mode, mode_reasons in zip(modes, reasons, strict=True):
        lines = [
            f"{reason or _('(none given)')}: {share.count} / {share.total}"
            for reason, share in mode_reasons
        ]
        pdf.paragraph(f"{mode}: " + ("; ".join(lines) if lines else _("No override.")))
    for table in breakdowns:
        pdf.heading(str(table["title"]))
        kept = sorted(table["rows"], key=_volume, reverse=True)[:BREAKDOWN_ROWS]
        if len(kept) < len(table["rows"]):
            pdf.paragraph(
                _("The %(kept)s most frequent of %(all)s; all of them in the CSV export.")
                % {"kept": len(kept), "all": len(table["rows"])},
                size=8,
            )
        rows = []
        for row in sorted(kept, key=lambda r: str(r["name"])):
            cells = []
            for cell in row["modes"]:
                if not cell:
                    cells.append("0")
                    continue
                coverage = cell["coverage"]
                changed = cell["flagged_changed"]
                share = _number((coverage.value or 0) * 100, "%") if coverage.total else "—"
                flagged = f"{changed.count}/{changed.total}" if changed.total else "—"
                cells.append(f"n = {cell['total']} · {share} · {flagged}")
            rows.append([str(row["name"]), *cells])
        pdf.rows(
            ["", *[f"{m}: n · {_('rated')} · {_('flagged changed')}" for m in modes]],
            rows,
            (60, 60, 60),
        )
    pdf.ln(6)
    pdf.font(9)
    pdf.cell(0, 5, pdf.fit(_("Read and approved by the medical director (name, date, signature):")))
    return bytes(pdf.output())
