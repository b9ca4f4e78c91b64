"""FHIR R4 Slot search on a centre's server.

``GET {base}/Slot?status=free&start=ge<now>&start=lt<horizon>&_count=<n>``, then
the Bundle's ``link[relation=next]`` page after page. Every page is validated
with fhir.resources' R4B models (R4 shapes; the default package is R5). Any
HTTP error, timeout or invalid page fails the whole fetch: a feed is applied
completely or not at all, so a broken answer never wipes known slots.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode, urljoin, urlsplit

import requests
from django.conf import settings
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.slot import Slot as FhirSlotModel
from pydantic import ValidationError as PydanticValidationError

from imaging_cds.outbound import AnswerTooLarge, body_limited

USER_AGENT = "imaging-cds availability refresh"


class FeedError(Exception):
    """The feed could not be read or its answer is unusable; the message says why."""


@dataclass(frozen=True)
class FeedSlot:
    id: str
    schedule_ref: str
    status: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class FeedFetch:
    slots: list[FeedSlot]
    pages: int


def schedule_key(reference: str) -> str:
    """``https://host/fhir/Schedule/ct-1/_history/2`` and ``Schedule/ct-1`` → ``Schedule/ct-1``.

    Equipment.fhir_schedule is compared on this key, so a server may send
    relative or absolute references.
    """
    parts = [p for p in urlsplit(reference.strip()).path.split("/") if p]
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    return "/".join(parts[-2:])


def _search_url(base_url: str, start_ge: datetime, start_lt: datetime, page_size: int) -> str:
    query = urlencode(
        [
            ("status", "free"),
            ("start", f"ge{start_ge.isoformat(timespec='seconds')}"),
            ("start", f"lt{start_lt.isoformat(timespec='seconds')}"),
            ("_count", str(page_size)),
        ]
    )
    return f"{base_url.rstrip('/')}/Slot?{query}"


def parse_bundle(body: bytes) -> tuple[list[FeedSlot], str | None]:
    """One searchset page → its Slots and the next page's URL. Raises FeedError."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise FeedError(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        raise FeedError("not a FHIR Bundle")
    # Some servers leave out Bundle.type; the entries still say what they are.
    data.setdefault("type", "searchset")
    try:
        bundle = Bundle.model_validate(data)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise FeedError(
            f"invalid Bundle ({exc.error_count()} errors): {where}: {first['msg']}"
        ) from None
    slots = []
    for entry in bundle.entry or []:
        resource = entry.resource
        # Search results may carry an OperationOutcome or included Schedules: not slots.
        if not isinstance(resource, FhirSlotModel):
            continue
        if not resource.id:
            raise FeedError("a Slot has no id: it cannot be tracked between refreshes")
        start, end = resource.start, resource.end
        if start is None or end is None:
            raise FeedError(f"Slot {resource.id}: start and end are required")
        if start.tzinfo is None or end.tzinfo is None:
            raise FeedError(f"Slot {resource.id}: start and end must carry a time zone")
        if end <= start:
            raise FeedError(f"Slot {resource.id}: ends before it starts")
        reference = resource.schedule.reference if resource.schedule else None
        slots.append(
            FeedSlot(
                id=resource.id,
                schedule_ref=schedule_key(reference or ""),
                status=resource.status or "",
                start=start,
                end=end,
            )
        )
    next_url = next((link.url for link in bundle.link or [] if link.relation == "next"), None)
    return slots, next_url


def fetch_free_slots(
    *,
    base_url: str,
    start_ge: datetime,
    start_lt: datetime,
    timeout_seconds: float,
    budget_seconds: float,
    max_pages: int,
    page_size: int = 200,
    session: requests.Session | None = None,
) -> FeedFetch:
    """Every free Slot the server lists in the window, all pages. Raises FeedError."""
    http = session or requests.Session()
    url: str | None = _search_url(base_url, start_ge, start_lt, page_size)
    origin = urlsplit(base_url)[:2]
    deadline = time.monotonic() + budget_seconds
    slots: list[FeedSlot] = []
    seen_urls: set[str] = set()
    pages = 0
    while url:
        if pages >= max_pages:
            raise FeedError(f"more than {max_pages} pages: paging stopped")
        if url in seen_urls:
            raise FeedError("the next link loops back to a page already read")
        # A next link may only lead to the same server: the feed URL is what the
        # centre manager declared, nothing else may be fetched on its behalf.
        if urlsplit(url)[:2] != origin:
            raise FeedError(f"next link leaves the feed's server: {url}")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FeedError(f"gave up after {budget_seconds:.0f} s ({pages} pages read)")
        seen_urls.add(url)
        try:
            response = http.get(
                url,
                headers={"Accept": "application/fhir+json", "User-Agent": USER_AGENT},
                timeout=(min(timeout_seconds, remaining), min(timeout_seconds, remaining)),
                allow_redirects=False,
                stream=True,
            )
            with response:
                if response.status_code != 200:
                    raise FeedError(f"HTTP {response.status_code} from {url}")
                body = body_limited(response, settings.AVAILABILITY_FEED_MAX_PAGE_BYTES)
        except AnswerTooLarge as exc:
            raise FeedError(f"page {exc}: refused") from None
        except requests.Timeout:
            raise FeedError(f"timeout after {timeout_seconds:g} s: {url}") from None
        except requests.RequestException as exc:
            raise FeedError(f"cannot reach the server: {exc.__class__.__name__}") from None
        page_slots, next_url = parse_bundle(body)
        slots.extend(page_slots)
        pages += 1
        url = urljoin(url, next_url) if next_url else None
    return FeedFetch(slots=slots, pages=pages)
