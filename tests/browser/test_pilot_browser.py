"""The pilot in real Chromium: the medical director switches the site from silent to
active, a prescriber orders in each mode through the page, an EHR through CDS Hooks,
and the report shows the expected figures, its plots drawn under the site's CSP
(screenshots: test-artifacts/screenshots/pilot-*.png)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from playwright.sync_api import Browser, Page, expect
from pytest_django.live_server_helper import LiveServer

from imaging_cds.roles import Role
from ordering.models import CdsModeValue, DecisionMeasure
from tests.actors import Actors, make_user
from tests.browser.conftest import screenshot
from tests.browser.test_prescriber_flow import choose_indication, fill_patient, sign_in
from tests.ehr.conftest import Ehr, ehr  # noqa: F401  (the registered EHR fixture)
from tests.ehr.test_cds_hooks import hook_body, order, patient, prefetch
from tests.world import WITHOUT_PRIORS, FlowPacs

PACEMAKER = {"text": "troubles cognitifs récents chez un patient porteur d'un pacemaker"}


def declare(page: Page, live_server: LiveServer, mode_label: str, reason: str) -> None:
    page.goto(f"{live_server.url}/reports/pilot/modes/")
    page.get_by_label("Mode", exact=True).select_option(label=mode_label)
    page.get_by_label("Motif").fill(reason)
    page.get_by_role("button", name="Enregistrer cette période").click()
    expect(page.locator("table.modes tbody tr").first).to_contain_text(reason)


def order_on_the_page(tab: Page, live_server: LiveServer, identifier: str, step: str) -> None:
    tab.goto(f"{live_server.url}/orders/new/")
    fill_patient(tab, identifier, "1979-05-02")
    choose_indication(tab, "nodule sein", "Masse ou nodule palpable du sein")
    tab.get_by_role("button", name="Voir les examens évalués et les créneaux libres").click()
    expect(tab.get_by_role("heading", level=1)).to_have_text("Masse ou nodule palpable du sein")
    screenshot(tab, f"pilot-{step}-options")
    tab.locator("li.exam").first.get_by_role("button", name="Choisir").first.click()
    tab.get_by_role("button", name="Confirmer et signer l’ordonnance").click()
    expect(tab.get_by_role("heading", name="Ordonnance d’imagerie")).to_be_visible()


def hook_contraindicated_mri(http: Client, caller: Ehr) -> dict[str, Any]:
    body = hook_body(
        "order-sign", order("mr-brain", PACEMAKER), pre=prefetch(patient(born="1950-05-02"))
    )
    response = caller.hook(http, "imaging-order-sign", body)
    assert response.status_code == 200, response.content
    return response.json()


def figure_cells(page: Page, key: str) -> list[str]:
    return page.locator(f'tr[data-figure="{key}"] td').all_inner_texts()


@pytest.mark.browser
def test_a_site_switched_from_silent_to_active_is_read_side_by_side_in_the_report(
    page: Page,
    browser: Browser,
    live_server: LiveServer,
    world: FlowPacs,
    actors: Actors,
    ehr: Ehr,  # noqa: F811
) -> None:
    director: User = make_user("mona", Role.MEDICAL_DIRECTOR)
    sign_in(page, live_server, director)
    prescriber = browser.new_context(locale="fr-FR", viewport={"width": 1024, "height": 768})
    alice = prescriber.new_page()
    alice.set_default_timeout(10_000)
    sign_in(alice, live_server, actors.alice)
    http = Client()

    # Four weeks silent, in one morning: the page hides the ratings, the hook says nothing.
    declare(page, live_server, "Silencieuse", "Période de référence")
    screenshot(page, "pilot-01-modes-silent")
    order_on_the_page(alice, live_server, WITHOUT_PRIORS, "02-silent")
    silent_page = DecisionMeasure.objects.get(mode=CdsModeValue.SILENT)
    assert silent_page.signed_at is not None
    assert hook_contraindicated_mri(http, ehr) == {"cards": []}

    # Active: the same order shows its rating; the hook's critical card interrupts.
    declare(page, live_server, "Active", "Passage en mode actif")
    order_on_the_page(alice, live_server, "TESTPAT03", "03-active")
    [card] = hook_contraindicated_mri(http, ehr)["cards"]
    assert card["indicator"] == "critical"
    prescriber.close()

    blocked: list[str] = []
    page.on(
        "console",
        lambda message: (
            blocked.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.goto(f"{live_server.url}/reports/pilot/")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Rapport du pilote\u00a0: silencieux contre actif"
    )
    silent, active = figure_cells(page, "cards")[1:]
    assert "0 / 2" in silent and "2 / 2" in active
    silent, active = figure_cells(page, "interruptive")[1:]
    assert "0 / 2" in silent and "1 / 2" in active
    silent, active = figure_cells(page, "coverage")[1:]
    assert "2 / 2" in silent and "2 / 2" in active
    silent, active = figure_cells(page, "to_signature_p50")[1:]
    assert "n = 1" in silent and "n = 1" in active
    # The plots are drawn (images decoded), and nothing broke the page's policy.
    images = page.locator("section.pilot-plots img")
    expect(images).to_have_count(3)
    for index in range(3):
        image = images.nth(index)
        image.scroll_into_view_if_needed()
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
        )
    assert blocked == []
    screenshot(page, "pilot-04-report")
    page.emulate_media(media="print")
    screenshot(page, "pilot-05-report-print")
