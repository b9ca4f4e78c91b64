"""The product rule pack's vocabulary: every situation and red flag has its words."""

from __future__ import annotations

from guidelines.engine import rule_set_compile
from guidelines.rulepack import pack_files, packs_parse, rulepack_load


def test_every_indication_and_red_flag_of_the_product_pack_has_words():
    indications = [row for document in packs_parse(pack_files()) for row in document.indications]
    assert indications
    few = [row["code"] for row in indications if len(row["synonyms"]) < 3]
    assert few == []
    average = sum(len(row["synonyms"]) for row in indications) / len(indications)
    assert average >= 5, average
    silent = [
        f"{row['code']}/{flag['code']}"
        for row in indications
        for flag in row["red_flags"]
        if not flag["words"]
    ]
    assert silent == []


def test_the_acute_and_chronic_low_back_pain_are_told_apart_by_duration(db):
    rule_set = rulepack_load(paths=pack_files()).rule_set
    compiled = rule_set_compile(rule_set)
    acute = compiled.indication("low-back-pain-acute")
    chronic = compiled.indication("low-back-pain-chronic")
    assert acute is not None and chronic is not None
    assert (acute.duration_days, chronic.duration_days) == ((None, 90), (90, None))
    assert (acute.duration_fits(10), chronic.duration_fits(10)) == (True, False)
    assert (acute.duration_fits(120), chronic.duration_fits(120)) == (False, True)
