"""Log filters: what a log line must never carry, whatever logged it."""

from __future__ import annotations

import logging
import re

# The patient's booking page: its path is the order's booking token, which opens the
# booking of that order to whoever holds it (a capability URL). Django's request
# logger writes the path of every 4xx answer.
_CAPABILITY_PATH = re.compile(r"/rdv/[^/\s?#]+")
_MASKED = "/rdv/…"


def _mask(value: object) -> object:
    return _CAPABILITY_PATH.sub(_MASKED, value) if isinstance(value, str) else value


class CapabilityPathFilter(logging.Filter):
    """Mask booking tokens in a record's message and arguments (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _mask(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_mask(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _mask(arg) for key, arg in record.args.items()}
        return True
