from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from guidelines.models import Rule, RuleChange, RuleSet
from guidelines.rulepack import rulepack_load
from tests.actors import PASSWORD, Actors
from tests.browser.conftest import screenshot
from tests.guidelines.conftest import TEST_PACK


def log_in(tab: Page, url: str, username: str) -> None:
    tab.goto(f"{url}/accounts/login/")
    tab.get_by_label("Nom d’utilisateur").fill(username)
    tab.get_by_label("Mot de passe").fill(PASSWORD)
    tab.get_by_role("button", name="Se connecter").click()
    tab.wait_for_load_state()


@pytest.mark.browser
def test_an_editor_edits_diffs_tests_publishes_and_rolls_back_a_rule_set(
    page: Page, live_server: LiveServer, actors: Actors
) -> None:
    tab = page
    v1 = rulepack_load(paths=[TEST_PACK], publish=True, label="Test pack").rule_set
    log_in(tab, live_server.url, "erin")
    tab.get_by_role("link", name="Règles de bon usage").click()
    expect(tab.get_by_role("heading", level=1)).to_have_text("Règles de bon usage")
    tab.get_by_role("button", name="Copier dans un nouveau brouillon").first.click()
    expect(tab.get_by_text("Brouillon v2 créé.")).to_be_visible()
    screenshot(tab, "guidelines-01-draft")

    # Find the rule through the htmx search, then edit it.
    tab.get_by_label("Examen").fill("mr-brain")
    expect(tab.locator("#results")).to_contain_text("3 règles")
    v2 = RuleSet.objects.get(version=2)
    rule = Rule.objects.get(
        rule_set=v2, procedure__code="mr-brain", indication__code="test-headache-sudden"
    )
    tab.goto(f"{live_server.url}/guidelines/rules/{rule.pk}/edit/")
    tab.locator("#id_conditions").fill('{"age_above": 3}')
    tab.locator("#id_reason").fill("Revue avec la neuroradiologie")
    tab.get_by_role("button", name="Enregistrer la règle").click()
    expect(tab.locator("#id_conditions_errors")).to_contain_text("age_above: unknown condition")
    screenshot(tab, "guidelines-02-inline-error")
    tab.locator("#id_conditions").fill("{}")
    tab.locator("#id_category").select_option("indicated")
    tab.get_by_role("button", name="Enregistrer la règle").click()
    expect(tab.get_by_text("Règle enregistrée.")).to_be_visible()
    expect(tab.get_by_text("Revue avec la neuroradiologie")).to_be_visible()
    screenshot(tab, "guidelines-03-rule-history")

    tab.goto(f"{live_server.url}/guidelines/v2/diff/")
    expect(tab.locator("tr.diff-changed")).to_contain_text("category")
    screenshot(tab, "guidelines-04-diff")

    tab.goto(f"{live_server.url}/guidelines/v2/golden/")
    expect(tab.locator(".summary")).to_have_text("4 cas, 1 en échec.")
    expect(tab.locator("tr.fail")).to_contain_text("mr-brain: specialised → indicated")
    screenshot(tab, "guidelines-05-golden")

    tab.get_by_role("button", name="Publier cette version").click()
    expect(tab.get_by_text("Publication refusée : des cas de référence échouent.")).to_be_visible()
    assert RuleSet.objects.get(version=2).status == "draft"
    screenshot(tab, "guidelines-06-publish-refused")
    tab.get_by_label("Publier malgré tout, parce que").fill("Le guide 2026 relève l’IRM.")
    tab.get_by_role("button", name="Publier cette version").click()
    expect(tab.get_by_text("La v2 est désormais en vigueur.")).to_be_visible()
    screenshot(tab, "guidelines-07-published")

    tab.goto(f"{live_server.url}/guidelines/v{v1.version}/")
    tab.get_by_label("Pourquoi").fill("Retour demandé par les urgences")
    tab.get_by_role("button", name="Remettre cette version en vigueur").click()
    expect(tab.get_by_text("La v1 est de nouveau en vigueur.")).to_be_visible()
    screenshot(tab, "guidelines-08-rolled-back")
    assert RuleSet.objects.get(version=1).status == "published"
    assert RuleSet.objects.get(version=2).status == "archived"
    override = RuleChange.objects.get(action="publish_override")
    assert override.reason == "Le guide 2026 relève l’IRM." and override.user == actors.erin
