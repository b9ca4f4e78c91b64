"""The default label of a loaded rule set must fit its field, however many pack files
there are (the lead merges several batches of files)."""

from __future__ import annotations

from guidelines.models import RuleSet
from guidelines.rulepack import _pack_label


def test_a_short_file_list_is_the_label() -> None:
    assert _pack_label("chest.yaml, ent.yaml", 2) == "Rule pack (chest.yaml, ent.yaml)"


def test_a_file_list_too_long_for_the_field_becomes_a_count() -> None:
    names = ", ".join(f"area_{i}_2.yaml" for i in range(30))
    label = _pack_label(names, 30)
    assert label == "Rule pack (30 files)"
    assert len(label) <= (RuleSet._meta.get_field("label").max_length or 0)
