"""The prescriber's whole flow in real Chromium, with screenshots of every step
(test-artifacts/screenshots/flow-*.png)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from ordering.models import Order
from scheduling.availability import ProcedureNeed
from scheduling.models import Slot, SlotStatus
from scheduling.services.booking import slot_book
from tests.actors import Actors
from tests.browser.conftest import screenshot
from tests.world import WITH_MAMMOGRAM, WITHOUT_PRIORS, FlowPacs


def sign_in(page: Page, live_server: LiveServer, user: User) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"]
    page.context.add_cookies([{"name": "sessionid", "value": cookie.value, "url": live_server.url}])


def fill_patient(page: Page, identifier: str, birth_date: str, **extra: str) -> None:
    page.get_by_label("Type d’identifiant").select_option("local")
    page.get_by_label("Identifiant du patient").fill(identifier)
    # By id: these labels' French arrives with the next catalogue compilation.
    page.locator("#id_birth_name").fill(extra.get("birth_name", "ESSAI"))
    page.locator("#id_given_names").fill(extra.get("given_names", "Camille"))
    page.get_by_label("Date de naissance").fill(birth_date)
    page.get_by_label("Sexe").select_option(extra.get("sex", "F"))
    page.get_by_label("Code postal de résidence").fill(extra.get("postcode", "35000"))
    page.get_by_label("Grossesse").select_option(extra.get("pregnancy", "no"))
    page.get_by_label("Poids (kg)").fill(extra.get("weight", "64"))


def choose_indication(page: Page, words: str, label: str) -> None:
    """Type in the indication box, then tick the situation among what was understood
    (pre-ticked when the text is clear enough, one of the nearest otherwise)."""
    page.get_by_label("Pourquoi cet examen ? (en français ou en anglais)").fill(words)
    choice = page.get_by_role("radio", name=label)
    # The first reading in a server process loads the French language data (~4 s).
    expect(choice).to_be_visible(timeout=20_000)
    choice.check()


@pytest.mark.browser
def test_an_indicated_exam_is_booked_end_to_end_and_printed(
    page: Page, live_server: LiveServer, world: FlowPacs, actors: Actors
) -> None:
    sign_in(page, live_server, actors.alice)
    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="Prescrire un examen d’imagerie").click()
    fill_patient(page, WITHOUT_PRIORS, "1979-05-02")
    choose_indication(page, "nodule sein", "Masse ou nodule palpable du sein")
    screenshot(page, "flow-01-patient-and-indication")
    page.get_by_role("button", name="Voir les examens évalués et les créneaux libres").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Masse ou nodule palpable du sein")
    expect(page.get_by_text("Aucun antécédent d’imagerie trouvé pour ce patient.")).to_be_visible()
    first_exam = page.locator("li.exam").first
    expect(first_exam.locator(".badge")).to_have_text("Indiqué")
    screenshot(page, "flow-02-options")
    # The filters re-rank in place: public hospitals only.
    page.get_by_label("Hôpitaux publics uniquement").check()
    expect(page.locator("#options")).not_to_contain_text("Imagerie médicale du Thabor")
    screenshot(page, "flow-03-filtered")
    first_exam.get_by_role("button", name="Choisir").first.click()
    expect(
        page.get_by_role("heading", name="Créneau retenu pour vous, pas encore réservé")
    ).to_be_visible()
    screenshot(page, "flow-04-held")
    page.get_by_role("button", name="Confirmer et signer l’ordonnance").click()
    expect(page.get_by_role("heading", name="Ordonnance d’imagerie")).to_be_visible()
    order = Order.objects.get(prescriber=actors.alice)
    # The printed order names the patient and carries no technical id.
    expect(page.locator(".order-sheet")).not_to_contain_text(str(order.consultation_id))
    expect(page.locator(".order-sheet")).to_contain_text(WITHOUT_PRIORS)
    expect(page.locator(".order-sheet")).to_contain_text("ESSAI")
    screenshot(page, "flow-05-signed-order")
    page.emulate_media(media="print")
    expect(page.get_by_role("button", name="Annuler cette ordonnance")).to_be_hidden()
    screenshot(page, "flow-06-print")
    page.emulate_media(media="screen")
    page.get_by_role("link", name="Mes ordonnances").click()
    expect(page.locator("table")).to_contain_text("Échographie mammaire")
    screenshot(page, "flow-07-order-list")


@pytest.mark.browser
def test_a_not_indicated_situation_says_so_instead_of_offering_slots(
    page: Page, live_server: LiveServer, world: FlowPacs, actors: Actors
) -> None:
    sign_in(page, live_server, actors.alice)
    page.goto(f"{live_server.url}/orders/new/")
    fill_patient(page, WITHOUT_PRIORS, "1980-01-15", sex="M")
    choose_indication(page, "lombalgie aigue", "Lombalgie commune aiguë (moins de 3 mois)")
    page.get_by_role("button", name="Voir les examens évalués et les créneaux libres").click()
    expect(
        page.get_by_role("heading", name="Aucune imagerie n’est indiquée dans cette situation")
    ).to_be_visible()
    expect(page.get_by_role("button", name="Choisir")).to_have_count(0)
    screenshot(page, "flow-08-not-indicated")


@pytest.mark.browser
def test_a_prior_exam_in_the_pacs_makes_the_first_choice_redundant(
    page: Page, live_server: LiveServer, world: FlowPacs, actors: Actors
) -> None:
    sign_in(page, live_server, actors.alice)
    page.goto(f"{live_server.url}/orders/new/")
    fill_patient(page, WITH_MAMMOGRAM, "1960-03-01")
    choose_indication(
        page,
        "depistage cancer du sein",
        "Dépistage du cancer du sein, femme sans symptôme ni facteur de risque particulier",
    )
    page.get_by_role("button", name="Voir les examens évalués et les créneaux libres").click()
    expect(page.locator(".priors")).to_contain_text("MAMMOGRAPHIE BILATERALE")
    expect(page.locator("li.exam").first.locator(".redundant")).to_contain_text("420")
    screenshot(page, "flow-09-redundant")


@pytest.mark.browser
def test_a_slot_taken_between_hold_and_confirm_offers_the_next_ones(
    page: Page, live_server: LiveServer, world: FlowPacs, actors: Actors
) -> None:
    sign_in(page, live_server, actors.alice)
    page.goto(f"{live_server.url}/orders/new/")
    fill_patient(page, WITHOUT_PRIORS, "1979-05-02")
    choose_indication(page, "nodule sein", "Masse ou nodule palpable du sein")
    page.get_by_role("button", name="Voir les examens évalués et les créneaux libres").click()
    page.locator("li.exam").first.get_by_role("button", name="Choisir").first.click()
    expect(
        page.get_by_role("heading", name="Créneau retenu pour vous, pas encore réservé")
    ).to_be_visible()
    slot_id = int(page.locator("#confirm input[name=slot_id]").get_attribute("value") or 0)
    # Alice's hold lapses and a colleague books the slot first.
    # The whole run held with the slot lapses (an exam longer than one slot holds several).
    Slot.objects.filter(run_head=slot_id).update(held_until="2000-01-01T00:00:00Z")
    slot = Slot.objects.select_related("equipment").get(pk=slot_id)
    slot_book(
        slot_id=slot_id,
        user=actors.bob,
        procedure=ProcedureNeed("us-breast", slot.equipment.modality),
    )
    page.get_by_role("button", name="Confirmer et signer l’ordonnance").click()
    expect(page.get_by_text("Ce créneau vient d’être pris par quelqu’un d’autre.")).to_be_visible()
    screenshot(page, "flow-10-slot-taken")
    page.locator(".alternatives").get_by_role("button", name="Choisir").first.click()
    expect(
        page.get_by_role("heading", name="Créneau retenu pour vous, pas encore réservé")
    ).to_be_visible()
    page.get_by_role("button", name="Confirmer et signer l’ordonnance").click()
    expect(page.get_by_role("heading", name="Ordonnance d’imagerie")).to_be_visible()
    order = Order.objects.get(prescriber=actors.alice)
    assert order.booking is not None and order.booking.slot_id != slot_id
    assert Slot.objects.get(pk=slot_id).status == SlotStatus.BOOKED


BAD_INPUTS: list[tuple[str, str, Any]] = [
    ("Identifiant du patient", "x", "Un identifiant local compte"),
    ("Date de naissance", "2999-01-01", "La date de naissance est dans le futur."),
    ("Code postal de résidence", "3500", "Un code postal français a cinq chiffres."),
    # The input contract's ranges (ordering/contract.py), with French decimals.
    ("Poids (kg)", "0", "Saisissez une valeur entre 0,5 et 350 kg."),
    ("DFG estimé (mL/min/1,73 m²)", "-4", "Saisissez une valeur entre 1 et 200"),
]


@pytest.mark.browser
def test_bad_input_in_each_field_is_refused_next_to_the_field(
    page: Page, live_server: LiveServer, world: FlowPacs, actors: Actors
) -> None:
    sign_in(page, live_server, actors.alice)
    for number, (label, value, message) in enumerate(BAD_INPUTS, start=1):
        page.goto(f"{live_server.url}/orders/new/")
        fill_patient(page, WITHOUT_PRIORS, "1979-05-02")
        choose_indication(page, "nodule sein", "Masse ou nodule palpable du sein")
        page.get_by_label(label).fill(value)
        page.get_by_role("button", name="Voir les examens évalués et les créneaux libres").click()
        field = page.get_by_label(label).locator("xpath=ancestor::div[contains(@class,'field')]")
        expect(field).to_contain_text(re.compile(re.escape(message)))
        # Nothing typed is lost: the other fields keep their values.
        expect(page.get_by_label("Identifiant du patient")).to_have_value(
            value if label == "Identifiant du patient" else WITHOUT_PRIORS
        )
        screenshot(page, f"flow-11-bad-input-{number}")
    # No indication chosen at all.
    page.goto(f"{live_server.url}/orders/new/")
    fill_patient(page, WITHOUT_PRIORS, "1979-05-02")
    page.get_by_role("button", name="Voir les examens évalués et les créneaux libres").click()
    expect(page.get_by_role("alert")).to_contain_text("Choisissez le motif clinique dans la liste.")
    screenshot(page, "flow-12-no-indication")
