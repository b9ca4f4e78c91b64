"""Opening hours: the stored shape, its validation, and the text form managers type.

Stored shape: ``{"mon": [["08:00", "12:30"], ["13:30", "19:00"]], ...}``; a
missing day is closed. Typed shape, one field per day: ``08:00-12:30, 13:30-19:00``.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

DAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_RANGE = re.compile(r"^\s*(\S+)\s*[-–]\s*(\S+)\s*$")


def _minutes(value: str) -> int:
    match = _HHMM.match(value)
    if not match:
        raise ValidationError(
            _("“%(value)s” is not a time: use HH:MM, for example 08:30.") % {"value": value},
            code="bad_time",
        )
    return int(match.group(1)) * 60 + int(match.group(2))


def _check_windows(windows: list[list[str]]) -> None:
    previous_end = -1
    for start, end in windows:
        start_m, end_m = _minutes(start), _minutes(end)
        if end_m <= start_m:
            raise ValidationError(
                _("%(start)s–%(end)s ends before it starts.") % {"start": start, "end": end},
                code="reversed",
            )
        if start_m < previous_end:
            raise ValidationError(
                _("%(start)s–%(end)s overlaps the previous opening; list them in order.")
                % {"start": start, "end": end},
                code="overlap",
            )
        previous_end = end_m


def validate_opening_hours(value: Any) -> None:
    if not isinstance(value, dict):
        raise ValidationError(_("Opening hours must map days to time ranges."), code="shape")
    for day, windows in value.items():
        if day not in DAY_KEYS:
            raise ValidationError(_("Unknown day “%(day)s”.") % {"day": day}, code="day")
        if not isinstance(windows, list) or not all(
            isinstance(w, list | tuple) and len(w) == 2 and all(isinstance(t, str) for t in w)
            for w in windows
        ):
            raise ValidationError(
                _("The hours of %(day)s must be a list of [start, end].") % {"day": day},
                code="shape",
            )
        _check_windows([list(w) for w in windows])


def parse_day(text: str) -> list[list[str]]:
    """``"08:00-12:30, 13:30-19:00"`` → ``[["08:00", "12:30"], ["13:30", "19:00"]]``.

    Empty text is a closed day. Raises ValidationError with a message a manager can act on.
    """
    windows: list[list[str]] = []
    for part in (p for p in re.split(r"[,;]", text) if p.strip()):
        match = _RANGE.match(part)
        if not match:
            raise ValidationError(
                _("“%(value)s” is not a time range: use HH:MM-HH:MM, for example 08:00-12:30.")
                % {"value": part.strip()},
                code="bad_range",
            )
        windows.append([_normalise(match.group(1)), _normalise(match.group(2))])
    _check_windows(windows)
    return windows


def _normalise(value: str) -> str:
    # Accept 8:00 and 8h00 as French users type them; store HH:MM.
    value = value.replace("h", ":").replace("H", ":")
    if re.match(r"^\d:\d\d$", value):
        value = "0" + value
    return value


def format_day(windows: list[list[str]]) -> str:
    return ", ".join(f"{start}-{end}" for start, end in windows)
