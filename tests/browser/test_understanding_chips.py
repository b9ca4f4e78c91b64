"""The indication box in real Chromium: a sentence typed, what was understood shown as
chips to confirm, and only what the form then submits used
(test-artifacts/screenshots/understanding-*.png)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from guidelines.engine import published_rule_set_compiled
from guidelines.understanding import understand
from ordering.models import Consultation
from ordering.record import ConsultationRecord
from tests.actors import Actors
from tests.browser.conftest import screenshot
from tests.browser.test_prescriber_flow import fill_patient, sign_in
from tests.world import WITHOUT_PRIORS, FlowPacs

BOX = "Pourquoi cet examen ? (en français ou en anglais)"
SUBMIT = "Voir les examens évalués et les créneaux libres"
ACUTE_LOW_BACK_PAIN = "Lombalgie commune aiguë (moins de 3 mois)"
# The badge of what was read; its French text comes with the next catalogue update.
READ_IN_TEXT = re.compile("lu dans le texte|read in the text", re.IGNORECASE)
# The first reading in a server process loads the French language data (~4 s).
FIRST_READING_MS = 20_000


def type_text(page: Page, text: str) -> None:
    """Type as a prescriber does, key by key, and wait for the reading of the whole text."""
    box = page.get_by_label(BOX)
    box.click()
    with page.expect_response(
        lambda r: (
            r.url.endswith("/orders/new/understanding/")
            and text in (r.request.post_data_json or {}).get("indication_query", "")
        ),
        timeout=FIRST_READING_MS,
    ):
        box.press_sequentially(text, delay=10)


@pytest.mark.browser
def test_a_typed_sentence_is_shown_as_chips_confirmed_and_submitted(
    page: Page, live_server: LiveServer, world: FlowPacs, actors: Actors
) -> None:
    sign_in(page, live_server, actors.alice)
    page.goto(f"{live_server.url}/orders/new/")
    fill_patient(page, WITHOUT_PRIORS, "1980-01-15", sex="M")
    type_text(page, "Lombalgie aiguë depuis 10 jours, sans fièvre, pas de traumatisme")
    understood = page.locator("#understanding")
    indication = understood.get_by_role("radio", name=ACUTE_LOW_BACK_PAIN)
    expect(indication).to_be_checked()
    expect(understood.locator("label.choice.read")).to_contain_text("Lombalgie commune aiguë")
    expect(understood.locator("[data-fact=duration]")).to_contain_text("10 jours")
    # Nothing read pre-ticks a red flag here: every box is the prescriber's to tick.
    expect(understood.locator("input[name=red_flags]:checked")).to_have_count(0)
    expect(understood.locator("input[name=red_flags]").first).to_be_visible()
    screenshot(page, "understanding-01-chips")

    page.get_by_role("button", name=SUBMIT).click()
    expect(
        page.get_by_role("heading", name="Aucune imagerie n’est indiquée dans cette situation")
    ).to_be_visible()
    consultation = Consultation.objects.get(prescriber=actors.alice)
    assert page.url.endswith(f"/orders/c/{consultation.pk}/")
    assert consultation.indication_code == "low-back-pain-acute"
    assert consultation.inputs["red_flags"] == []
    screenshot(page, "understanding-02-options")


@pytest.mark.browser
def test_a_red_flag_read_in_the_text_is_pre_ticked_and_says_it_was_read(
    page: Page, live_server: LiveServer, world: FlowPacs, actors: Actors
) -> None:
    text = "Lombalgie aiguë depuis 3 semaines, antécédent de cancer, patiente enceinte"
    # What the understanding stage reads in this text is what the page must show,
    # however many red-flag words the rule pack holds.
    read = understand(text, published_rule_set_compiled())
    assert read.indication_code == "low-back-pain-acute"
    present, _absent = read.flags_for("low-back-pain-acute")
    assert "cancer-history" in present

    sign_in(page, live_server, actors.alice)
    page.goto(f"{live_server.url}/orders/new/")
    fill_patient(page, WITHOUT_PRIORS, "1990-04-12", pregnancy="no")
    type_text(page, text)
    flags = page.locator("#red-flags")
    for code in present:
        flag = flags.locator(f"label[data-flag='{code}']")
        expect(flag.locator("input")).to_be_checked()
        expect(flag.locator(".read-badge")).to_have_text(READ_IN_TEXT)
    expect(flags.locator("input[name=red_flags]:checked")).to_have_count(len(present))

    # The pregnancy read in the text is offered to the form, not put there silently.
    pregnancy = page.get_by_label("Grossesse")
    expect(pregnancy).to_have_value("no")
    page.locator("#risk-pregnancy").get_by_role("button").click()
    expect(pregnancy).to_have_value("yes")
    expect(page.locator("#risk-pregnancy")).to_have_class(re.compile(r"\bapplied\b"))
    screenshot(page, "understanding-03-red-flag-read")

    # A box the prescriber unticks stays unticked while they go on typing.
    flags.locator("label[data-flag='cancer-history'] input").uncheck()
    type_text(page, ", merci")
    expect(flags.locator("label[data-flag='cancer-history'] input")).not_to_be_checked()
    flags.locator("label[data-flag='cancer-history'] input").check()

    page.get_by_role("button", name=SUBMIT).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(ACUTE_LOW_BACK_PAIN)
    consultation = Consultation.objects.get(prescriber=actors.alice)
    assert set(consultation.inputs["red_flags"]) == set(present)
    assert ConsultationRecord(consultation).patient["pregnancy"] == "yes"
    screenshot(page, "understanding-04-submitted-with-red-flag")
