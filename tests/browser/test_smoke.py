from __future__ import annotations

import pytest
from playwright.sync_api import Page
from pytest_django.live_server_helper import LiveServer

from tests.actors import PASSWORD, Actors
from tests.browser.conftest import screenshot


@pytest.mark.browser
def test_a_prescriber_logs_in_sees_french_and_switches_to_english(
    page: Page, live_server: LiveServer, actors: Actors
) -> None:
    tab = page
    tab.goto(f"{live_server.url}/")
    # Anonymous: sent to the sign-in page, in French by default.
    assert "/accounts/login/" in tab.url
    tab.get_by_label("Nom d’utilisateur").fill("alice")
    tab.get_by_label("Mot de passe").fill(PASSWORD)
    screenshot(tab, "smoke-01-login")
    tab.get_by_role("button", name="Se connecter").click()
    heading = tab.get_by_role("heading", level=1)
    assert heading.inner_text() == "Aide à la prescription d’imagerie"
    assert tab.get_by_text("Prescrire un examen d’imagerie").is_visible()
    assert tab.locator("html").get_attribute("lang") == "fr"
    screenshot(tab, "smoke-02-home-fr")
    tab.get_by_role("button", name="EN").click()
    tab.wait_for_load_state()
    assert heading.inner_text() == "Imaging decision support"
    assert tab.locator("html").get_attribute("lang") == "en"
    assert tab.get_by_text("Order an imaging exam").is_visible()
    screenshot(tab, "smoke-03-home-en")
