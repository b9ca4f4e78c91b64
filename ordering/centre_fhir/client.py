"""Writes to a centre's FHIR server: conditional create, search by identifier,
update. Every URL is checked by imaging_cds.outbound before it is fetched: it must
lie under the centre's feed base, and a base on loopback or a private network must be
one FEED_ALLOWED_HOSTS lists (the rule the feed reader follows). No redirect is
followed, every answer is read up to a size limit, and nothing here logs a body."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from django.conf import settings

from imaging_cds.outbound import (
    Allowance,
    AnswerTooLarge,
    OutboundRefused,
    body_limited,
    outbound_check,
)

FHIR_JSON = "application/fhir+json"
USER_AGENT = "imaging-cds order delivery"
# A server's logical id (FHIR id datatype): nothing that could leave the base's path.
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


class FhirUnavailable(Exception):
    """No usable answer (connection, timeout, 5xx, too large, not JSON): try again later."""


class FhirRefused(Exception):
    """The server refused the request (a 4xx other than a conflict): do not retry."""


@dataclass(frozen=True)
class FhirAnswer:
    status: int
    body: dict[str, Any] | None
    location: str = ""

    def diagnostics(self) -> str:
        """The OperationOutcome's words, for the manager (never logged)."""
        if not self.body or self.body.get("resourceType") != "OperationOutcome":
            return ""
        issues = self.body.get("issue") or []
        texts = [str(i.get("diagnostics") or i.get("code") or "") for i in issues[:3]]
        return "; ".join(t for t in texts if t)[:300]


@dataclass
class CentreFhir:
    """One centre's server, with a time budget for the whole delivery of a message."""

    base_url: str
    budget_seconds: float
    session: requests.Session = field(default_factory=requests.Session)
    deadline: float = 0.0

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self.deadline = time.monotonic() + self.budget_seconds

    def _check(self, url: str) -> None:
        try:
            outbound_check(url, Allowance(hosts=tuple(settings.FEED_ALLOWED_HOSTS)))
            outbound_check(url, Allowance(bases=(self.base_url,)))
        except OutboundRefused as refused:
            raise FhirRefused(f"the centre's FHIR URL is refused: {refused}") from None

    def request(
        self, method: str, path: str, *, body: dict[str, Any] | None = None, **headers: str
    ) -> FhirAnswer:
        url = f"{self.base_url}/{path}"
        self._check(url)
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise FhirUnavailable(f"no answer within {self.budget_seconds:g} s")
        timeout = min(settings.AVAILABILITY_FEED_TIMEOUT_SECONDS, remaining)
        try:
            response = self.session.request(
                method,
                url,
                data=json.dumps(body).encode() if body is not None else None,
                headers={
                    "Accept": FHIR_JSON,
                    "Content-Type": FHIR_JSON,
                    "User-Agent": USER_AGENT,
                    **headers,
                },
                timeout=(timeout, timeout),
                allow_redirects=False,
                stream=True,
            )
            with response:
                raw = body_limited(response, settings.AVAILABILITY_FEED_MAX_PAGE_BYTES)
        except AnswerTooLarge as exc:
            raise FhirUnavailable(f"the answer is {exc}") from None
        except requests.Timeout:
            raise FhirUnavailable(f"timeout after {timeout:g} s") from None
        except requests.RequestException as exc:
            raise FhirUnavailable(f"cannot reach the server: {exc.__class__.__name__}") from None
        status = response.status_code
        if status in (408, 429) or status >= 500:
            raise FhirUnavailable(f"HTTP {status}")
        parsed: Any = None
        if raw.strip():
            try:
                parsed = json.loads(raw)
            except ValueError:
                raise FhirUnavailable(f"HTTP {status}: the answer is not JSON") from None
        return FhirAnswer(
            status=status,
            body=parsed if isinstance(parsed, dict) else None,
            location=response.headers.get("Location", ""),
        )

    def created_id(self, answer: FhirAnswer, resource_type: str) -> str:
        """The id a create (or a conditional create that matched) gives back: from the
        body, else from the Location header (``…/Type/id/_history/n``)."""
        body = answer.body or {}
        if body.get("resourceType") == resource_type and body.get("id"):
            candidate = str(body["id"])
        else:
            parts = [p for p in urlsplit(answer.location).path.split("/") if p]
            if "_history" in parts:
                parts = parts[: parts.index("_history")]
            candidate = parts[-1] if len(parts) >= 2 and parts[-2] == resource_type else ""
        if not _ID.match(candidate):
            raise FhirUnavailable(f"HTTP {answer.status}: no {resource_type} id in the answer")
        return candidate

    def search_by_identifier(self, resource_type: str, token: str) -> list[dict[str, Any]]:
        answer = self.request("GET", f"{resource_type}?{urlencode({'identifier': token})}")
        if answer.status != 200:
            raise FhirRefused(f"HTTP {answer.status}: {answer.diagnostics()}".rstrip(": "))
        entries = (answer.body or {}).get("entry") or []
        found = [e.get("resource") for e in entries if isinstance(e, dict)]
        return [
            r
            for r in found
            if isinstance(r, dict)
            and r.get("resourceType") == resource_type
            and _ID.match(str(r.get("id", "")))
        ]
