"""A circuit breaker per PACS node: a node that failed is not asked again for a
while, so that a PACS that is down costs one failed query, not one per decision.

The state lives in the shared cache (Redis in production), so every worker process
learns of the failure at once:

- closed: no key; every lookup asks the node.
- open: ``pacs-breaker:<node>`` holds when and how the node failed; lookups skip
  the node and say "prior exams unavailable" with that reason, at cached speed.
- half-open: ``PACS_BREAKER_SECONDS`` after the failure, one lookup (the one that
  wins ``cache.add`` on the probe key) asks the node again; the others keep
  skipping it until that probe's answer closes or re-opens the breaker.

A cache that is down leaves every breaker closed: the lookup then pays for the
node as it did before, which is slower but never wrong.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from ordering.pacs.query import Failure, NodeAnswer

logger = logging.getLogger(__name__)

# Failures that say the node is not there or not answering: worth skipping for a
# while. An answer the node gave but we could not use (an error status, a bad
# dataset) is the node's answer for this patient, not a sign that it is down.
OPENING_FAILURES = frozenset(
    {Failure.UNREACHABLE, Failure.REJECTED, Failure.TIMEOUT, Failure.ABORTED, Failure.TLS}
)
_PREFIX = "pacs-breaker:"
KEEP_FACTOR = 20


@dataclass(frozen=True)
class OpenState:
    failure: Failure
    opened_at: float  # epoch seconds

    def answer(self, node: str) -> NodeAnswer:
        """What a lookup records for a node it skipped."""
        return NodeAnswer(
            node,
            False,
            failure=Failure.CIRCUIT_OPEN,
            detail=str(self.failure),
            elapsed_ms=0.0,
        )


def _seconds() -> int:
    return int(settings.PACS_BREAKER_SECONDS)


def breaker_check(node: str) -> OpenState | None:
    """The node's open state when this lookup must skip it; None when it may ask the
    node (the breaker is closed, or this caller won the half-open probe)."""
    if _seconds() <= 0:
        return None
    try:
        raw = cache.get(_PREFIX + node)
        if raw is None:
            return None
        state = OpenState(Failure(raw["failure"]), float(raw["opened_at"]))
        if time.time() < float(raw["retry_at"]):
            return state
        # Half-open: one lookup asks the node again, the others still skip it.
        budget = max(1, int(float(settings.PACS_TIMEOUT_SECONDS)) + 1)
        if cache.add(_PREFIX + "probe:" + node, 1, timeout=budget):
            return None
        return state
    except Exception as exc:  # a cache outage must not stop the lookup
        logger.warning("PACS breaker unreadable (%s): asking the node", type(exc).__name__)
        return None


def breaker_record(answer: NodeAnswer) -> None:
    """Open (or keep open) the node's breaker after a failure that says it is down;
    close it after any answer the node gave."""
    if _seconds() <= 0 or answer.failure is Failure.CIRCUIT_OPEN:
        return
    key = _PREFIX + answer.node
    try:
        if answer.failure in OPENING_FAILURES:
            now = time.time()
            state = {"failure": str(answer.failure), "opened_at": now, "retry_at": now + _seconds()}
            # Kept well past the retry time: an expired key would forget that the node
            # was down and let every lookup probe it at once.
            cache.set(key, state, timeout=_seconds() * KEEP_FACTOR)
            logger.warning(
                "PACS node %s %s: skipped for %d s", answer.node, answer.failure, _seconds()
            )
        else:
            cache.delete(key)
        cache.delete(_PREFIX + "probe:" + answer.node)
    except Exception as exc:  # same reasoning as breaker_check
        logger.warning("PACS breaker not written (%s)", type(exc).__name__)
