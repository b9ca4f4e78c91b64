"""The RPPS number, which identifies a health professional in France on every order.

Eleven digits (Ordre national des chirurgiens-dentistes, "RPPS — un numéro
d'identification unique", read 2026; ANS's FHIR guides write the national identifier
as "8" followed by the RPPS number). The last digit is a Luhn (mod 10) check digit
over the first ten: we read this rule only in third-party material (a health
test-data library's table of national identifiers), not in an ANS document; see the
README's "printed order" section."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

_RPPS_RE = re.compile(r"^[0-9]{11}$")


def luhn_valid(digits: str) -> bool:
    """Luhn: from the right, every second digit doubled (minus 9 above 9); the sum of
    all is a multiple of 10."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def rpps_normalise(value: str) -> str:
    """Spaces and dots prescribers type between groups are not part of the number."""
    return "".join(ch for ch in str(value) if ch not in " .\u00a0\u202f")


def rpps_validate(value: str) -> None:
    """Model and form validator: 11 digits whose last is the Luhn key."""
    number = rpps_normalise(value)
    if not _RPPS_RE.match(number):
        raise ValidationError(_("An RPPS number has 11 digits."), code="rpps_format")
    if not luhn_valid(number):
        raise ValidationError(
            _("This RPPS number's check digit is wrong: check for a typing error."),
            code="rpps_key",
        )
