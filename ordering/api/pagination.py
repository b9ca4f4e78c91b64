"""Limit/offset pages with bounds. DRF's LimitOffsetPagination passes any offset to
the database, and PostgreSQL refuses one past bigint with an error (a 500); it also
reads a malformed value as "no value", silently.

The contract: `limit` is a positive integer; above MAX_LIMIT it is read as MAX_LIMIT
(the page says what it returned and its `next` link goes on from there). `offset` is
an integer from 0 to MAX_OFFSET. Anything else is a 400 naming the parameter: an
offset cannot be clamped without answering a different page than the one asked."""

from __future__ import annotations

import re
from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.settings import api_settings

DEFAULT_LIMIT = api_settings.PAGE_SIZE or 50
MAX_LIMIT = 100
# PostgreSQL reads and discards every row it skips: deep offsets cost as much as
# reading the whole list. No list served here comes near this.
MAX_OFFSET = 100_000
_DIGITS = re.compile(r"[0-9]+")


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    default_limit = DEFAULT_LIMIT
    max_limit = MAX_LIMIT

    def get_limit(self, request: Request) -> int:
        raw = request.query_params.get(self.limit_query_param)
        if raw is None:
            return DEFAULT_LIMIT
        value = _non_negative_int(raw)
        if value is None or value < 1:
            raise ValidationError({self.limit_query_param: [_("Must be a positive integer.")]})
        return min(value, MAX_LIMIT)

    def get_offset(self, request: Request) -> int:
        raw = request.query_params.get(self.offset_query_param)
        if raw is None:
            return 0
        value = _non_negative_int(raw)
        if value is None or value > MAX_OFFSET:
            raise ValidationError(
                {
                    self.offset_query_param: [
                        _("Must be an integer from 0 to %(max)s.") % {"max": MAX_OFFSET}
                    ]
                }
            )
        return value


def _non_negative_int(raw: str) -> int | None:
    # int() would also take " 7", "1_000" and non-ASCII digits: a query string is ASCII.
    return int(raw) if _DIGITS.fullmatch(raw) else None


# The two query parameters as the OpenAPI schema documents them.
PAGE_PARAMETERS: list[Any] = [
    OpenApiParameter(
        "limit",
        {"type": "integer", "minimum": 1},
        required=False,
        description=(
            f"Items per page, a positive integer; default {DEFAULT_LIMIT}. "
            f"Above {MAX_LIMIT} it is read as {MAX_LIMIT}. Anything else is a 400."
        ),
    ),
    OpenApiParameter(
        "offset",
        {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
        required=False,
        description=f"Items to skip, from 0 to {MAX_OFFSET}; default 0. Anything else is a 400.",
    ),
]
