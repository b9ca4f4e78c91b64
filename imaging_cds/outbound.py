"""The one rule for URLs this application fetches on someone else's say-so: the EHR's
``fhirServer`` (CDS Hooks) and a centre's availability ``feed_url``.

A URL is fetched only when:
- its scheme is https, or http in DEBUG, or http to a loopback host that is
  explicitly allowed (traffic that never leaves the machine, e.g. a local proxy);
- it carries no user name or password;
- with ``bases``, it lies under one of them exactly: same scheme, host, port, and a
  path that is the base's path or below it (segment-wise: ``/fhir`` does not allow
  ``/fhir-admin``);
- none of the host's addresses is loopback, private, link-local or otherwise not
  public, unless the host is explicitly allowed (a matching base counts).

Callers pass the allowance as data (an EHR client's list, a setting); this module
reads only ``settings.DEBUG``. A refusal says why, in words safe to show to whoever
configured the URL (no patient data ever goes into a URL checked here).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, urlsplit

from django.conf import settings

if TYPE_CHECKING:
    import requests

DEFAULT_PORTS = {"http": 80, "https": 443}


class OutboundRefused(ValueError):
    """This URL may not be fetched; the message says why."""


@dataclass(frozen=True)
class Allowance:
    # Base URLs a request must lie under (empty: any public https URL).
    bases: tuple[str, ...] = ()
    # Hosts ("name" or "name:port") allowed even on loopback or private addresses.
    hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Parts:
    scheme: str
    host: str
    port: int
    path: str


def _parts(url: str) -> _Parts:
    try:
        split: SplitResult = urlsplit(url.strip())
        port = split.port
    except ValueError:
        raise OutboundRefused("not a valid URL") from None
    scheme = split.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise OutboundRefused("only http and https URLs are fetched")
    if not split.hostname:
        raise OutboundRefused("the URL has no host")
    if split.username is not None or split.password is not None:
        raise OutboundRefused("credentials in the URL are refused")
    return _Parts(
        scheme=scheme,
        host=split.hostname.lower().rstrip("."),
        port=port or DEFAULT_PORTS[scheme],
        path="/" + split.path.strip("/") if split.path.strip("/") else "",
    )


def _under(url: _Parts, base: _Parts) -> bool:
    if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
        return False
    return url.path == base.path or url.path.startswith(base.path + "/")


def _host_listed(url: _Parts, hosts: Sequence[str]) -> bool:
    wanted = {url.host, f"{url.host}:{url.port}"}
    if ":" in url.host:  # an IPv6 literal is written in brackets with a port
        wanted.add(f"[{url.host}]:{url.port}")
    return any(entry.strip().lower().rstrip(".") in wanted for entry in hosts)


def _addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise OutboundRefused(f"the host {host} cannot be resolved") from None
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def _not_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    # is_private covers 10/8, 172.16/12, 192.168/16, fc00::/7 and more; loopback
    # (127/8, ::1) and link-local (169.254/16, fe80::/10) are named for clarity.
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_unspecified
        or address.is_multicast
        or address.is_reserved
    )


def allow_list_entry_check(url: str) -> None:
    """Raise :class:`OutboundRefused` unless ``url`` may stand in an allow-list: http(s)
    with a host and no credentials; https outside DEBUG unless the host is a loopback
    literal. No DNS look-up: where it points is checked at each fetch."""
    parts = _parts(url)
    if parts.scheme == "https" or settings.DEBUG:
        return
    try:
        loopback = ipaddress.ip_address(parts.host).is_loopback
    except ValueError:
        loopback = parts.host == "localhost"
    if not loopback:
        raise OutboundRefused("https is required")


def outbound_check(url: str, allowance: Allowance) -> None:
    """Raise :class:`OutboundRefused` unless ``url`` may be fetched under ``allowance``."""
    parts = _parts(url)
    listed = _host_listed(parts, allowance.hosts)
    if allowance.bases:
        bases = []
        for base in allowance.bases:
            try:
                bases.append(_parts(base))
            except OutboundRefused:
                continue  # a malformed entry allows nothing
        if not any(_under(parts, base) for base in bases):
            raise OutboundRefused("the URL is not under an allowed base URL")
        listed = True
    addresses = _addresses(parts.host)
    if not listed and any(_not_public(a) for a in addresses):
        raise OutboundRefused(
            f"the host {parts.host} is loopback or on a private network and not allowed"
        )
    if parts.scheme != "https" and not settings.DEBUG:
        loopback = all(a.is_loopback for a in addresses)
        if not (listed and loopback):
            raise OutboundRefused("https is required")


class AnswerTooLarge(ValueError):
    """An answer larger than its caller accepts; the message says the limit."""


def body_limited(response: requests.Response, limit: int) -> bytes:
    """A streamed answer's body, refused whole past ``limit`` bytes (a declared
    Content-Length over it is refused before reading): no peer makes us read an
    unbounded answer."""
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise AnswerTooLarge(f"larger than {limit} bytes")
    chunks, size = [], 0
    for chunk in response.iter_content(chunk_size=65536):
        size += len(chunk)
        if size > limit:
            raise AnswerTooLarge(f"larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
