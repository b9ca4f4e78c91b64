from __future__ import annotations

from pathlib import Path

import pytest

from guidelines.models import RuleSet
from guidelines.rulepack import rulepack_load

FIXTURES = Path(__file__).parent / "fixtures"
TEST_PACK = FIXTURES / "test_neuro.yaml"


@pytest.fixture
def published(db: None) -> RuleSet:
    """The test pack, loaded and published as the rule set in force."""
    return rulepack_load(paths=[TEST_PACK], publish=True, label="Test pack").rule_set
