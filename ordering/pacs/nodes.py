"""PACS nodes as configured in settings.

One node comes from the single-node variables (``PACS_HOST``, ``PACS_PORT``…);
``PACS_NODES``, a JSON list, declares several instead. Both are read when the
settings load, and a malformed ``PACS_NODES`` stops start-up naming the variable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

Transport = Literal["dimse", "dicomweb"]

_AE_TITLE_MAX = 16


@dataclass(frozen=True)
class PacsNode:
    name: str
    host: str
    port: int
    called_aet: str
    calling_aet: str
    acse_timeout: float = 2.0
    dimse_timeout: float = 2.0
    network_timeout: float = 2.0
    transport: Transport = "dimse"
    # Base URL of the DICOMweb service (``…/dicom-web``) when transport is dicomweb.
    url: str = ""
    tls: bool = False
    tls_ca_file: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""
    # The most answers the PACS is known to return; reaching it means "capped". 0: unknown.
    max_answers: int = 0


_FIELDS: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "host": str,
    "port": int,
    "called_aet": str,
    "calling_aet": str,
    "acse_timeout": (int, float),
    "dimse_timeout": (int, float),
    "network_timeout": (int, float),
    "transport": str,
    "url": str,
    "tls": bool,
    "tls_ca_file": str,
    "tls_cert_file": str,
    "tls_key_file": str,
    "max_answers": int,
}


def _node_from_json(
    variable: str, index: int, item: object, calling_aet: str, timeout: float
) -> PacsNode:
    where = f"{variable}[{index}]"
    if not isinstance(item, dict):
        raise ImproperlyConfigured(f"{where} must be a JSON object.")
    unknown = sorted(set(item) - set(_FIELDS))
    if unknown:
        raise ImproperlyConfigured(f"{where} has unknown keys: {', '.join(unknown)}.")
    for key, value in item.items():
        expected = _FIELDS[key]
        # bool is an int in Python: a port of `true` must not pass.
        if isinstance(value, bool) and expected is not bool:
            raise ImproperlyConfigured(f"{where}.{key} has the wrong type.")
        if not isinstance(value, expected):
            raise ImproperlyConfigured(f"{where}.{key} has the wrong type.")
    transport = item.get("transport", "dimse")
    if transport not in ("dimse", "dicomweb"):
        raise ImproperlyConfigured(f"{where}.transport must be 'dimse' or 'dicomweb'.")
    values: dict[str, Any] = {
        "calling_aet": calling_aet,
        "acse_timeout": timeout,
        "dimse_timeout": timeout,
        "network_timeout": timeout,
        "called_aet": "",
        "host": "",
        "port": 0,
        **item,
    }
    if not values.get("name"):
        raise ImproperlyConfigured(f"{where}.name is required.")
    if transport == "dimse":
        missing = [key for key in ("host", "port", "called_aet") if not values[key]]
        if missing:
            raise ImproperlyConfigured(f"{where} (DIMSE) needs {', '.join(missing)}.")
        if not 0 < values["port"] < 65536:
            raise ImproperlyConfigured(f"{where}.port is not a TCP port.")
        for key in ("called_aet", "calling_aet"):
            if len(values[key]) > _AE_TITLE_MAX:
                raise ImproperlyConfigured(f"{where}.{key} is longer than 16 characters.")
    elif not str(values.get("url", "")).startswith(("http://", "https://")):
        raise ImproperlyConfigured(f"{where} (DICOMweb) needs an http(s) url.")
    for key in ("acse_timeout", "dimse_timeout", "network_timeout"):
        if values[key] <= 0:
            raise ImproperlyConfigured(f"{where}.{key} must be positive.")
    if values.get("max_answers", 0) < 0:
        raise ImproperlyConfigured(f"{where}.max_answers must not be negative.")
    return PacsNode(**values)


def parse_pacs_nodes(
    variable: str, raw: str | None, *, calling_aet: str, timeout: float
) -> list[PacsNode]:
    """Read the JSON list of PACS nodes; an empty result means "use the single node"."""
    if raw is None:
        return []
    try:
        items = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ImproperlyConfigured(f"{variable} is not valid JSON: {exc.msg}.") from None
    if not isinstance(items, list) or not items:
        raise ImproperlyConfigured(f"{variable} must be a non-empty JSON list of objects.")
    nodes = [
        _node_from_json(variable, index, item, calling_aet, timeout)
        for index, item in enumerate(items)
    ]
    names = [node.name for node in nodes]
    if len(set(names)) != len(names):
        raise ImproperlyConfigured(f"{variable} names a node twice.")
    return nodes


def configured_nodes() -> list[PacsNode]:
    """The nodes a lookup queries: ``PACS_NODES`` when set, else the single default node."""
    declared: list[PacsNode] = list(getattr(settings, "PACS_NODES", []) or [])
    if declared:
        return declared
    timeout = float(settings.PACS_TIMEOUT_SECONDS)
    return [
        PacsNode(
            name="default",
            host=settings.PACS_HOST,
            port=int(settings.PACS_PORT),
            called_aet=settings.PACS_CALLED_AET,
            calling_aet=settings.PACS_CALLING_AET,
            acse_timeout=timeout,
            dimse_timeout=timeout,
            network_timeout=timeout,
            max_answers=int(settings.PACS_MAX_ANSWERS),
        )
    ]
