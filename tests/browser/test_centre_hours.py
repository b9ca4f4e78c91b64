from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from scheduling.models import Centre
from tests.actors import PASSWORD, Actors
from tests.browser.conftest import screenshot


@pytest.mark.browser
def test_a_centre_manager_fixes_a_bad_opening_hour_and_sees_it_saved(
    page: Page, live_server: LiveServer, actors: Actors
) -> None:
    centre = Centre.objects.create(
        name="Imagerie du Thabor",
        kind="private",
        price_sector="sector_2",
        address="12 rue de Paris",
        postcode="35000",
        town="Rennes",
        latitude=48.1139,
        longitude=-1.6688,
        opening_hours={"mon": [["08:00", "12:30"], ["13:30", "19:00"]]},
    )
    centre.managers.add(actors.carol)
    tab = page
    tab.goto(f"{live_server.url}/")
    tab.get_by_label("Nom d’utilisateur").fill("carol")
    tab.get_by_label("Mot de passe").fill(PASSWORD)
    tab.get_by_role("button", name="Se connecter").click()
    tab.get_by_role("link", name="Mes centres d’imagerie").click()
    tab.get_by_role("link", name="Imagerie du Thabor").click()
    expect(tab.get_by_role("heading", level=1)).to_have_text("Imagerie du Thabor")
    screenshot(tab, "centre-hours-01-page")

    tuesday = tab.get_by_label("Mardi")
    tuesday.fill("08:00-25:00")
    tab.get_by_role("button", name="Enregistrer les horaires").click()
    error = tab.locator("#id_tue_error")
    expect(error).to_contain_text("« 25:00 » n’est pas une heure")
    # The day typed correctly is still there; nothing was saved.
    expect(tab.get_by_label("Lundi")).to_have_value("08:00-12:30, 13:30-19:00")
    centre.refresh_from_db()
    assert "tue" not in centre.opening_hours
    screenshot(tab, "centre-hours-02-inline-error")

    tab.get_by_label("Mardi").fill("08:00-18:00")
    tab.get_by_role("button", name="Enregistrer les horaires").click()
    expect(tab.get_by_text("Horaires enregistrés.")).to_be_visible()
    expect(tab.locator("#id_tue_error")).to_have_count(0)
    screenshot(tab, "centre-hours-03-saved")
    centre.refresh_from_db()
    assert centre.opening_hours["tue"] == [["08:00", "18:00"]]
    tab.reload()
    expect(tab.get_by_label("Mardi")).to_have_value("08:00-18:00")
