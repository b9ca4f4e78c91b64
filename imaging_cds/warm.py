"""What a web process builds before its first request, so that no prescriber waits
for it: the published rule set compiled, and the text-understanding index and
language pipeline over it (several seconds on first use, measured as the load
run's p99 of a few seconds on the first orders each worker served)."""

from __future__ import annotations

import logging
import time

from django.db import DatabaseError

logger = logging.getLogger(__name__)


def warm_up() -> float | None:
    """Compile the rule set in force and read one text with it; the seconds it took,
    or None when there is nothing to warm (no published rule set, no database yet:
    the first request then builds it, as before)."""
    from guidelines.engine import NoPublishedRuleSet, published_rule_set_compiled
    from guidelines.understanding import understand

    started = time.monotonic()
    try:
        rules = published_rule_set_compiled()
        understand("douleur depuis trois jours", rules)
    except (NoPublishedRuleSet, DatabaseError) as exc:
        logger.warning("warm-up skipped: %s", exc.__class__.__name__)
        return None
    except Exception as exc:  # warming is an optimisation: it never stops a worker
        logger.warning("warm-up failed: %r", exc)
        return None
    took = time.monotonic() - started
    logger.info("warm-up done in %.1f s", took)
    return took
