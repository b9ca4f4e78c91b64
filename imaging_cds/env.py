"""Typed readers for environment variables.

Each reader fails loudly, naming the variable, when a value cannot be parsed:
a typo in a deployment must stop start-up rather than silently fall back to a
default (healthchecks' ``envbool``/``envint`` are the model).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

# Every variable the settings read, with its meaning. The README table and the
# docker-compose test are both checked against this registry.
KNOWN: dict[str, str] = {}


def _raw(name: str, help_text: str) -> str | None:
    KNOWN[name] = help_text
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def env_str(name: str, default: str, help_text: str = "") -> str:
    value = _raw(name, help_text)
    return default if value is None else value


def env_optional_str(name: str, help_text: str = "") -> str | None:
    return _raw(name, help_text)


def env_bool(name: str, default: bool, help_text: str = "") -> bool:
    value = _raw(name, help_text)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a boolean: use one of true/false, yes/no, on/off, 1/0."
    )


def env_int(name: str, default: int, help_text: str = "", *, minimum: int | None = None) -> int:
    value = _raw(name, help_text)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum {minimum}.")
    return number


def env_float(name: str, default: float, help_text: str = "", *, minimum: float = 0.0) -> float:
    value = _raw(name, help_text)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a number.") from None
    if number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum {minimum}.")
    return number


_RATE_PERIODS = {"s", "sec", "second", "m", "min", "minute", "h", "hour", "d", "day"}


def env_rate(name: str, default: str, help_text: str = "") -> str:
    """A request rate as DRF throttles read it: `<count>/<period>`, e.g. 300/min."""
    value = _raw(name, help_text)
    if value is None:
        return default
    count, _, period = value.partition("/")
    if not count.strip().isdigit() or int(count) < 1 or period.strip() not in _RATE_PERIODS:
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a rate: use <count>/<period>, e.g. 300/min or 10/s."
        )
    return f"{int(count)}/{period.strip()}"


def env_list(name: str, default: list[str], help_text: str = "") -> list[str]:
    value = _raw(name, help_text)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def parse_database_url(name: str, url: str, base_dir: Path) -> dict[str, object]:
    """Turn ``sqlite:///path`` or ``postgres://user:pw@host:port/db`` into DATABASES['default']."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        # sqlite:///relative/path or sqlite:////absolute/path, as dj-database-url reads them.
        raw_path = unquote(parts.path)
        if raw_path.startswith("//"):
            path = Path(raw_path[1:])
        else:
            path = base_dir / raw_path.lstrip("/")
        if not raw_path.strip("/"):
            raise ImproperlyConfigured(f"{name}={url!r}: a SQLite URL needs a file path.")
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)}
    if scheme in {"postgres", "postgresql", "pgsql"}:
        database = unquote(parts.path.lstrip("/"))
        if not database:
            raise ImproperlyConfigured(f"{name}={url!r}: a PostgreSQL URL needs a database name.")
        try:
            port = parts.port
        except ValueError:
            raise ImproperlyConfigured(f"{name}={url!r}: the port is not a number.") from None
        options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": database,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(port or ""),
            "OPTIONS": options,
            # Short-lived web requests reuse connections; health checks catch dead ones.
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
    raise ImproperlyConfigured(
        f"{name}={url!r} is not a supported database URL: "
        "use sqlite:///path or postgres://user:password@host:port/name."
    )


@dataclass(frozen=True)
class RedisUrl:
    url: str


def parse_redis_url(name: str, url: str) -> RedisUrl:
    parts = urlsplit(url)
    if parts.scheme not in {"redis", "rediss", "unix"} or not (parts.hostname or parts.path):
        raise ImproperlyConfigured(f"{name}={url!r} is not a Redis URL: use redis://host:port/db.")
    try:
        _ = parts.port
    except ValueError:
        raise ImproperlyConfigured(f"{name}={url!r}: the port is not a number.") from None
    return RedisUrl(url)
