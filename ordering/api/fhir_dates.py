"""FHIR R4 `date` search parameters (https://hl7.org/fhir/R4/search.html#date): an
optional prefix (eq ne gt lt ge le sa eb ap, eq by default) and a date or dateTime
of any precision. A value is a range: `2026` is the whole year, `2026-12` the month,
`2026-12-02T10:00` that minute. Without a time zone the server's applies."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo

from django.db.models import Q
from django.utils import timezone as django_timezone
from django.utils.translation import gettext as _

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")

_VALUE = re.compile(
    r"(?P<year>[0-9]{4})"
    r"(?:-(?P<month>[0-9]{2})"
    r"(?:-(?P<day>[0-9]{2})"
    r"(?:T(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})"
    r"(?::(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]{1,9}))?)?"
    # A "+" left unencoded in a query string arrives as a space.
    r"(?P<zone>Z|[+\- ][0-9]{2}:[0-9]{2})?"
    r")?)?)?"
)


class FhirDateError(ValueError):
    """The value is not a FHIR date search value; the message says why."""


@dataclass(frozen=True)
class DateSearch:
    prefix: str
    low: datetime  # the value's range starts here (inclusive, aware, UTC)
    high: datetime  # and ends here (exclusive)


def date_search_parse(text: str) -> DateSearch:
    prefix, value = "eq", text
    if text[:2].isalpha():
        prefix, value = text[:2], text[2:]
        if prefix not in PREFIXES:
            raise FhirDateError(
                _("unknown prefix %(prefix)s (use one of %(prefixes)s)")
                % {"prefix": prefix, "prefixes": ", ".join(PREFIXES)}
            )
    match = _VALUE.fullmatch(value)
    if match is None:
        raise FhirDateError(
            _("expected YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss][Z|+hh:mm]")
        )
    try:
        low, high = _range(match)
        return DateSearch(prefix, low.astimezone(UTC), high.astimezone(UTC))
    except ValueError:  # month 13, hour 25, 31 February
        raise FhirDateError(_("no such date or time")) from None
    except OverflowError:  # year 1 or 9999: the range leaves what datetime holds
        raise FhirDateError(_("out of the supported range")) from None


def date_search_q(field: str, search: DateSearch, *, now: datetime) -> Q:
    """The filter a date search puts on `field`, a point in time (a Slot's start)."""
    low, high = search.low, search.high
    if search.prefix == "ap":
        # The spec leaves "approximately" to the server and suggests 10 % of the
        # distance from now.
        gap = abs(low - now) / 10
        low, high = low - gap, high + gap
    within = Q(**{f"{field}__gte": low, f"{field}__lt": high})
    return {
        "eq": within,
        "ap": within,
        "ne": ~within,
        "gt": Q(**{f"{field}__gte": high}),
        "sa": Q(**{f"{field}__gte": high}),
        "ge": Q(**{f"{field}__gte": low}),
        "lt": Q(**{f"{field}__lt": low}),
        "eb": Q(**{f"{field}__lt": low}),
        "le": Q(**{f"{field}__lt": high}),
    }[search.prefix]


def _range(match: re.Match[str]) -> tuple[datetime, datetime]:
    year = int(match["year"])
    zone = _zone(match["zone"])
    if match["month"] is None:
        return _at(date(year, 1, 1), zone), _at(date(year + 1, 1, 1), zone)
    month = int(match["month"])
    if match["day"] is None:
        following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
        return _at(date(year, month, 1), zone), _at(following, zone)
    day = date(year, month, int(match["day"]))
    if match["hour"] is None:
        return _at(day, zone), _at(day + timedelta(days=1), zone)
    fraction = (match["fraction"] or "")[:6]
    start = datetime(
        year,
        month,
        day.day,
        int(match["hour"]),
        int(match["minute"]),
        int(match["second"] or 0),
        int(fraction.ljust(6, "0")) if fraction else 0,
    )
    if match["second"] is None:
        precision = timedelta(minutes=1)
    elif not fraction:
        precision = timedelta(seconds=1)
    else:
        precision = timedelta(microseconds=10 ** (6 - len(fraction)))
    return _aware(start, zone), _aware(start + precision, zone)


def _zone(text: str | None) -> tzinfo | None:
    if text is None:
        return None
    if text == "Z":
        return UTC
    hours, minutes = int(text[1:3]), int(text[4:6])
    offset = timedelta(hours=hours, minutes=minutes)
    return timezone(-offset if text[0] == "-" else offset)


def _at(day: date, zone: tzinfo | None) -> datetime:
    return _aware(datetime(day.year, day.month, day.day), zone)


def _aware(moment: datetime, zone: tzinfo | None) -> datetime:
    if zone is None:
        return django_timezone.make_aware(moment)
    return moment.replace(tzinfo=zone)
