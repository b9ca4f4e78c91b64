"""The printed order as a one-page A4 PDF (fpdf2, pure Python), from the one reader
of what an order prints (ordering.order_sheet). An order signed without a booking
carries what the patient needs to book: the reference, a QR code to the booking
page, and the nearest centres with their phone numbers and next slots."""

from __future__ import annotations

from pathlib import Path

import segno
from django.conf import settings
from django.utils.translation import gettext as _
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from ordering.booking_centres import BookingCentre
from ordering.order_sheet import OrderSheet, SheetLine, datetime_text

PAGE_W, PAGE_H = 210.0, 297.0
MARGIN = 15.0
SIGNATURE_H = 30.0
# What the PDF shows of the booking page's list: the page itself has them all.
PDF_CENTRES = 3
# Core fonts only know Latin-1: what French text may hold beyond it, spelt in it.
LATIN1_SPELLING = str.maketrans(
    {"’": "'", "œ": "oe", "Œ": "OE", "\u202f": "\u00a0", "…": "...", "—": "-", "–": "-"}
)


class _Sheet(FPDF):
    def __init__(self, font_dir: Path) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.content_bottom = 0.0
        self.set_margins(MARGIN, MARGIN, MARGIN)
        # One page by design: the content is bounded, and a second page would be a
        # sheet the centre may separate from the signature.
        self.set_auto_page_break(False)
        regular, bold = font_dir / "DejaVuSans.ttf", font_dir / "DejaVuSans-Bold.ttf"
        self.unicode = regular.is_file() and bold.is_file()
        if self.unicode:
            self.add_font("Sheet", "", str(regular))
            self.add_font("Sheet", "B", str(bold))
            self.family = "Sheet"
        else:
            self.family = "Helvetica"
        self.set_title(_("Imaging order"))
        self.set_creator("imaging-cds")

    def text_fit(self, text: str) -> str:
        return (
            text
            if self.unicode
            else text.translate(LATIN1_SPELLING).encode("latin-1", "replace").decode("latin-1")
        )

    def font(self, size: float, bold: bool = False) -> None:
        self.set_font(self.family, "B" if bold else "", size)

    def line_text(self, text: str, size: float = 9.5, bold: bool = False, h: float = 4.6) -> None:
        self.font(size, bold)
        self.multi_cell(0, h, self.text_fit(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def heading(self, text: str) -> None:
        self.ln(1.5)
        self.font(10, True)
        self.set_fill_color(235, 235, 235)
        self.cell(0, 5.5, self.text_fit(text), fill=True, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(0.8)

    def pairs(self, lines: list[SheetLine], label_w: float = 48.0) -> None:
        for line in lines:
            self.font(9.5, True)
            self.cell(label_w, 4.8, self.text_fit(line.label))
            self.font(9.5)
            self.multi_cell(
                0, 4.8, self.text_fit(line.value), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT
            )

    def qr(self, url: str, x: float, y: float, size: float) -> None:
        """The QR code drawn as vector squares: sharp at any printer's resolution."""
        code = segno.make(url, error="m")
        rows = list(code.matrix)
        border = 2
        module = size / (len(rows) + 2 * border)
        self.set_fill_color(0, 0, 0)
        for r, row in enumerate(rows):
            for c, dark in enumerate(row):
                if dark:
                    self.rect(
                        x + (c + border) * module,
                        y + (r + border) * module,
                        module,
                        module,
                        style="F",
                    )


def pdf_font_dir() -> Path:
    return Path(getattr(settings, "ORDER_PDF_FONT_DIR", "/usr/share/fonts/truetype/dejavu"))


def order_pdf(sheet: OrderSheet, *, booking_url: str | None, centres: list[BookingCentre]) -> bytes:
    """The order on one A4 page. ``booking_url`` (an order without a booking): the
    QR code and the centres are printed for the patient."""
    return bytes(order_pdf_layout(sheet, booking_url=booking_url, centres=centres).output())


def order_pdf_layout(
    sheet: OrderSheet, *, booking_url: str | None, centres: list[BookingCentre]
) -> _Sheet:
    """The laid-out document; ``content_bottom`` is where the text ended, which must
    stay above the signature area (SIGNATURE_TOP)."""
    pdf = _Sheet(pdf_font_dir())
    pdf.add_page()
    _header(pdf, sheet)
    pdf.heading(_("Patient"))
    pdf.pairs(sheet.patient)
    pdf.heading(_("Exam requested"))
    pdf.line_text(f"{sheet.exam} ({sheet.modality})", size=11, bold=True, h=5.5)
    if sheet.priority:
        pdf.pairs([SheetLine(_("Priority"), sheet.priority)])
    pdf.heading(_("Clinical question"))
    pdf.line_text(sheet.clinical_question, bold=True)
    if sheet.red_flags:
        pdf.pairs([SheetLine(_("Red flags"), ", ".join(sheet.red_flags))])
    if sheet.red_flags_absent:
        pdf.pairs([SheetLine(_("Stated absent"), ", ".join(sheet.red_flags_absent))])
    if sheet.facts:
        pdf.heading(_("Facts for the radiologist"))
        pdf.pairs(sheet.facts)
    for note in sheet.notes:
        pdf.line_text("• " + note, size=9)
    if sheet.statement:
        pdf.ln(1)
        pdf.line_text(sheet.statement, size=9)
    if sheet.appointment:
        pdf.heading(_("Appointment"))
        for index, line in enumerate(sheet.appointment):
            pdf.line_text(line, bold=index == 0)
    elif booking_url:
        _booking(pdf, sheet, booking_url, centres)
    pdf.content_bottom = pdf.get_y()
    _signature(pdf)
    return pdf


def _header(pdf: _Sheet, sheet: OrderSheet) -> None:
    top = pdf.get_y()
    pdf.font(11, True)
    pdf.multi_cell(
        110,
        5.5,
        pdf.text_fit(sheet.prescriber_name),
        align="L",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.font(9)
    for line in sheet.prescriber_lines:
        pdf.multi_cell(110, 4.4, pdf.text_fit(line), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    bottom = pdf.get_y()
    pdf.set_xy(PAGE_W - MARGIN - 65, top)
    pdf.font(9.5)
    pdf.multi_cell(
        65,
        5,
        pdf.text_fit(_("On %(date)s") % {"date": sheet.signed_on}),
        align="R",
        new_x=XPos.LEFT,
        new_y=YPos.NEXT,
    )
    pdf.multi_cell(
        65,
        5,
        pdf.text_fit(_("Reference: %(ref)s") % {"ref": sheet.reference}),
        align="R",
        new_x=XPos.LEFT,
        new_y=YPos.NEXT,
    )
    pdf.set_xy(MARGIN, max(bottom, pdf.get_y()) + 3)
    pdf.font(15, True)
    pdf.cell(0, 8, pdf.text_fit(_("Imaging order")), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _booking(pdf: _Sheet, sheet: OrderSheet, url: str, centres: list[BookingCentre]) -> None:
    pdf.heading(_("To book the exam"))
    top = pdf.get_y()
    size = 30.0
    pdf.qr(url, PAGE_W - MARGIN - size, top, size)
    width = PAGE_W - 2 * MARGIN - size - 4
    pdf.font(9.5)
    pdf.multi_cell(
        width,
        4.6,
        pdf.text_fit(
            _(
                "Call one of these centres, or scan the code for the up-to-date list; "
                "give the reference %(ref)s."
            )
            % {"ref": sheet.reference}
        ),
        align="L",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    for centre in centres[:PDF_CENTRES]:
        pdf.font(9.5, True)
        head = centre.name + (f" — {centre.phone}" if centre.phone else "")
        pdf.multi_cell(
            width, 4.6, pdf.text_fit(head), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )
        pdf.font(8.5)
        detail = f"{centre.address}, {centre.postcode} {centre.town}"
        if centre.next_slots:
            detail += " · " + _("next free slot: %(when)s") % {
                "when": datetime_text(centre.next_slots[0])
            }
        pdf.multi_cell(
            width, 4.2, pdf.text_fit(detail), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )
    if not centres:
        pdf.multi_cell(
            width,
            4.6,
            pdf.text_fit(_("No centre near you shows a free slot online: call a centre.")),
            align="L",
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
    pdf.set_y(max(pdf.get_y(), top + size + 1))


SIGNATURE_TOP = PAGE_H - MARGIN - SIGNATURE_H


def _signature(pdf: _Sheet) -> None:
    y = SIGNATURE_TOP
    x = PAGE_W - MARGIN - 80
    pdf.set_draw_color(0, 0, 0)
    pdf.rect(x, y, 80, SIGNATURE_H)
    pdf.set_xy(x + 2, y + 1.5)
    pdf.font(8.5)
    pdf.cell(76, 4, pdf.text_fit(_("Prescriber's signature and stamp")))
