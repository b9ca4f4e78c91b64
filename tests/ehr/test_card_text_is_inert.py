"""Text written by guideline editors or catalogue managers reaches the EHR inert: a
rule's rationale with an HTML tag and a Markdown link, published in the database,
comes out of the real CDS service as text, not markup (checked by rendering the
card's detail with a CommonMark renderer that lets raw HTML through, the worst EHR)."""

from __future__ import annotations

from django.test import Client
from markdown_it import MarkdownIt

from guidelines import engine
from guidelines.models import Procedure, Rule
from tests.ehr.conftest import Ehr
from tests.ehr.test_cds_hooks import breast_lump, hook_body, order, patient, prefetch
from tests.world import FlowPacs

HOSTILE = (
    "<img src=x onerror=alert(1)> [click](javascript:alert(1)) ![i](https://evil.example/x.png)"
)


def test_a_rules_rationale_with_html_and_a_markdown_link_reaches_the_card_inert(
    client: Client, ehr: Ehr, world: FlowPacs
) -> None:
    Rule.objects.filter(procedure__code="us-breast").update(
        rationale_fr=f"Première intention. {HOSTILE}\n# titre", rationale_en=HOSTILE
    )
    Procedure.objects.filter(code="us-breast").update(
        label_fr="Écho <b>[sein](https://evil.example)</b>"
    )
    engine._cache.clear()  # published sets are compiled once per process: recompile
    body = hook_body("order-select", order("us-breast", breast_lump()), pre=prefetch(patient()))
    response = ehr.hook(client, "imaging-order-select", body)
    assert response.status_code == 200, response.content
    [card] = response.json()["cards"]

    rendered = MarkdownIt("commonmark", {"html": True, "linkify": True}).render(card["detail"])
    assert "<img" not in rendered and "<a " not in rendered and "<b>" not in rendered
    assert "<h1" not in rendered  # the rationale's line break opened no heading
    # The words are all there, to be read.
    assert "&lt;img src=x onerror=alert(1)&gt; [click](javascript:alert(1))" in rendered
    assert "Première intention." in rendered

    for plain in (card["summary"], card["source"]["label"], card["links"][0]["label"]):
        assert "<" not in plain and "[" not in plain
    assert card["summary"].startswith("Écho ‹b›(sein)(https://evil.example)‹/b›")
