"""PACS nodes as configured in settings."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings


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


def configured_nodes() -> list[PacsNode]:
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
        )
    ]
