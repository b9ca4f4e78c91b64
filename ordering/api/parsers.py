"""The JSON parser of the REST API and the CDS Hooks services: it refuses a body nested
too deep before `json.loads` sees it. Python's decoder recurses once per level, so a
few thousand `[` are enough to make it raise RecursionError, which DRF's parser does
not catch: without this guard such a body answers 500."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser

# No document this product reads (CDS Hooks requests with FHIR bundles, the REST API
# bodies) comes near 20 levels; 64 leaves room for any EHR's extensions.
MAX_JSON_DEPTH = 64

# A JSON string, closing quote optional: an unterminated string must not have its
# content read as structure (json.loads then reports it as the syntax error it is).
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"


def json_depth_exceeds(text: str, limit: int) -> bool:
    """Whether JSON `text` nests arrays and objects deeper than `limit`, brackets inside
    strings not counted. Malformed text is left for the decoder to refuse."""
    brackets = _NOT_BRACKETS.sub("", _STRING.sub("", text))
    depth = 0
    for char in brackets:
        if char in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


class GuardedJSONParser(JSONParser):
    """DRF's JSONParser with the body's size and nesting depth checked first."""

    def parse(
        self,
        stream: IO[bytes] | None,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        if stream is None:  # pragma: no cover - DRF never calls a parser without a body
            raise ParseError(_("The request has no body."), code="parse_error")
        limit = settings.MAX_REQUEST_BODY_BYTES
        # BodySizeLimitMiddleware refuses a declared length over the limit; a body
        # without Content-Length (chunked) is bounded here.
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise PayloadTooLarge(_("The request body exceeds %(limit)s bytes.") % {"limit": limit})
        try:
            encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
            # bytes.decode, unlike codecs.getreader, refuses bytes-to-bytes codecs
            # (bz2_codec) that would inflate a small body past the size limit.
            text = raw.decode(encoding)
        except (LookupError, UnicodeError) as exc:
            raise ParseError(
                _("The request body is not text in its declared charset."), code="parse_error"
            ) from exc
        if json_depth_exceeds(text, MAX_JSON_DEPTH):
            raise ParseError(
                _("The JSON body is nested deeper than %(limit)s levels.")
                % {"limit": MAX_JSON_DEPTH},
                code="json_too_deep",
            )
        try:
            return json.loads(text, parse_constant=_strict_constant if self.strict else None)
        except ValueError as exc:
            raise ParseError(
                _("JSON parse error: %(problem)s") % {"problem": exc}, code="parse_error"
            ) from exc


def _strict_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; DRF refuses them by default (STRICT_JSON).
    raise ValueError(f"{name} is not a valid JSON value")
