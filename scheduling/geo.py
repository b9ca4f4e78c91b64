"""Places: the communes of the demo territory and distances between points."""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

COMMUNES_FILE = Path(__file__).parent / "data" / "communes.yaml"
EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class Commune:
    postcode: str
    name: str
    latitude: float
    longitude: float


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.lower().replace("-", " ").replace("'", " ").split())


@cache
def _communes() -> tuple[Commune, ...]:
    rows = yaml.safe_load(COMMUNES_FILE.read_text(encoding="utf-8"))
    return tuple(
        Commune(str(r["postcode"]), r["name"], float(r["lat"]), float(r["lon"])) for r in rows
    )


def communes() -> tuple[Commune, ...]:
    return _communes()


def commune_lookup(*, postcode: str = "", name: str = "") -> Commune | None:
    """The commune with this postcode and/or name (accents and case ignored), or None.

    With a postcode shared by several communes, the name decides; without a name the
    first listed commune of the postcode is returned.
    """
    postcode = postcode.strip()
    folded = _fold(name) if name.strip() else ""
    matches = [
        c
        for c in _communes()
        if (not postcode or c.postcode == postcode) and (not folded or _fold(c.name) == folded)
    ]
    if not postcode and not folded:
        return None
    return matches[0] if matches else None
