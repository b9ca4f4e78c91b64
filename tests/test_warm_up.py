"""A web worker builds the rule set and the text reader when it loads the WSGI
application, not during a prescriber's first order (imaging_cds.warm)."""

from __future__ import annotations

import importlib

import pytest

from guidelines.engine import published_rule_set_compiled
from imaging_cds.warm import warm_up
from tests.world import FlowPacs


def test_loading_the_wsgi_application_builds_the_text_reader(world: FlowPacs) -> None:
    rules = published_rule_set_compiled()
    rules._understanding.clear()  # as in a fresh worker: built on first use
    import imaging_cds.wsgi

    importlib.reload(imaging_cds.wsgi)
    assert rules._understanding, "the index was built when the application loaded"


@pytest.mark.django_db
def test_with_nothing_published_the_warm_up_steps_aside() -> None:
    assert warm_up() is None
