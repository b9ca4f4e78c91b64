"""Patient identifiers are health data: we store and log only a keyed hash."""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings


def pseudonymise(identifier: str) -> str:
    """A stable, non-reversible reference for a patient identifier (INS or local id)."""
    normalised = "".join(identifier.split()).upper()
    key = settings.PSEUDONYM_KEY.encode()
    return hmac.new(key, normalised.encode(), hashlib.sha256).hexdigest()[:32]
