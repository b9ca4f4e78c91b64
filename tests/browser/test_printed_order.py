"""The printed order in real Chromium: signed without a booking through the page, shown
on a phone without overflow, printed (screenshots test-artifacts/screenshots/order-*.png;
the PDF itself is saved beside them as order-printed.pdf)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from ordering.models import Order, PrescriberProfile
from tests.actors import Actors
from tests.browser.conftest import ARTIFACTS, screenshot
from tests.browser.test_prescriber_flow import choose_indication, fill_patient, sign_in
from tests.world import PATIENT_NAMES, WITHOUT_PRIORS, FlowPacs


def _no_horizontal_overflow(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


@pytest.mark.browser
def test_an_order_signed_without_booking_prints_on_paper_and_reads_on_a_phone(
    page: Page, live_server: LiveServer, world: FlowPacs, actors: Actors
) -> None:
    User.objects.filter(pk=actors.alice.pk).update(first_name="Claire", last_name="Martin")
    PrescriberProfile.objects.create(
        user=actors.alice,
        rpps="10000000017",
        speciality="Médecine générale",
        address="Cabinet médical, 12 rue de l’Exemple",
        postcode="35000",
        town="Rennes",
        phone="02 99 00 00 00",
    )
    sign_in(page, live_server, actors.alice)
    page.goto(f"{live_server.url}/orders/new/")
    fill_patient(page, WITHOUT_PRIORS, "1979-05-02", **PATIENT_NAMES)
    page.locator("#id_egfr").fill("58")
    page.locator("#id_egfr_date").fill("2026-11-03")
    choose_indication(page, "nodule sein", "Masse ou nodule palpable du sein")
    page.get_by_role("button", name="Voir les examens évalués et les créneaux libres").click()
    first_exam = page.locator("li.exam").first
    first_exam.locator("form.sign-later button").click()
    expect(page.get_by_role("heading", name="Ordonnance d’imagerie")).to_be_visible()
    order = Order.objects.get(prescriber=actors.alice)
    assert order.booking is None
    sheet = page.locator(".order-sheet")
    expect(sheet).to_contain_text(PATIENT_NAMES["birth_name"])
    expect(sheet).to_contain_text("10000000017")
    expect(sheet).not_to_contain_text(str(order.pk))
    expect(page.locator(".sheet-qr svg")).to_be_visible()
    screenshot(page, "order-01-signed-without-booking")

    page.emulate_media(media="print")
    expect(page.locator(".order-screen")).to_be_hidden()
    expect(page.locator(".messages")).to_be_hidden()
    screenshot(page, "order-02-printed")
    page.emulate_media(media="screen")

    # A phone: nothing wider than the screen.
    page.set_viewport_size({"width": 375, "height": 740})
    page.reload()
    assert _no_horizontal_overflow(page)
    screenshot(page, "order-03-phone")

    # The patient's page, from the QR code, on a phone.
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/rdv/{order.booking_token}/")
    expect(page.locator(".booking-centres li").first).to_be_visible()
    expect(page.locator("main")).not_to_contain_text(PATIENT_NAMES["birth_name"])
    assert _no_horizontal_overflow(page)
    screenshot(page, "order-04-patient-booking-page")

    # The PDF as printed, kept beside the screenshots for the closing note.
    client = Client()
    client.force_login(actors.alice)
    pdf = client.get(f"/orders/{order.pk}/pdf/")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "order-printed.pdf").write_bytes(pdf.content)
