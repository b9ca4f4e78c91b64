"""The ordering page launched from the EHR (SMART on FHIR EHR launch, from the CDS
card's "smart" link): the form comes filled with the EHR's patient, facts and the
card's indication, nobody typing the patient again. Against a real SMART EHR on
loopback (tests.ehr.smart_ehr: authorization with PKCE, token, FHIR reads), real
signed hooks, real PostgreSQL."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import urlsplit

import requests
from django.test import Client

from imaging_cds.models import AuditEvent
from ordering.models import Consultation, EhrPractitioner
from tests.actors import Actors
from tests.ehr.conftest import Ehr
from tests.ehr.smart_ehr import CLIENT_ID, SmartEhr, smart_ehr  # noqa: F401
from tests.ehr.test_cds_hooks import (
    breast_lump,
    hook_body,
    observation,
    order,
    patient,
    prefetch,
    searchset,
)
from tests.world import WITH_MAMMOGRAM, WITHOUT_PRIORS, FlowPacs


def _ehr_patient(identifier: str, family: str, given: list[str]) -> dict[str, Any]:
    resource = patient(identifier)
    resource["name"] = [
        {"use": "usual", "family": "Autre", "given": ["X"]},
        {"use": "official", "family": family, "given": given},
    ]
    return resource


def _registered(ehr: Ehr, smart_ehr: SmartEhr, actors: Actors) -> None:  # noqa: F811
    ehr.client.smart_client_id = CLIENT_ID
    ehr.client.save(update_fields=["smart_client_id"])
    ehr.allow_fhir_server(smart_ehr.url)
    EhrPractitioner.objects.create(
        client=ehr.client, ehr_user_id="Practitioner/123", user=actors.alice
    )


def _card(client: Client, ehr: Ehr) -> dict[str, Any]:
    body = hook_body("order-select", order("us-breast", breast_lump()), pre=prefetch(patient()))
    body["context"]["userId"] = "Practitioner/123"
    [card] = ehr.hook(client, "imaging-order-select", body).json()["cards"]
    return card


def _smart_link(
    client: Client,
    ehr: Ehr,
    smart_ehr: SmartEhr,  # noqa: F811
    actors: Actors,
) -> dict[str, Any]:
    """An EHR registered for SMART, a card issued to Practitioner/123 (alice): its
    "smart" link."""
    _registered(ehr, smart_ehr, actors)
    [smart] = [link for link in _card(client, ehr)["links"] if link["type"] == "smart"]
    return smart


def _signed_in(actors: Actors) -> Client:
    browser = Client()
    browser.force_login(actors.alice)
    return browser


def _launch(browser: Client, smart_ehr: SmartEhr, launch: str) -> Any:  # noqa: F811
    """What a browser does: open the launch URL, follow the EHR's authorization
    (a real HTTP round trip), come back to the callback."""
    started = browser.get("/orders/smart/launch/", {"iss": smart_ehr.url, "launch": launch})
    if started.status_code != 302:
        return started
    authorised = requests.get(started["Location"], allow_redirects=False, timeout=5)
    assert authorised.status_code == 302, authorised.text
    back = urlsplit(authorised.headers["Location"])
    assert back.path == "/orders/smart/callback/"
    return browser.get(f"{back.path}?{back.query}")


def _checked(page: str, name: str) -> list[str]:
    """The values of the ticked radios or boxes of this name."""
    inputs = re.findall(rf'<input[^>]*name="{name}"[^>]*>', page)
    return [
        html.unescape(found.group(1))
        for tag in inputs
        if re.search(r"\schecked", tag) and (found := re.search(r'value="([^"]*)"', tag))
    ]


def _value(page: str, name: str) -> str:
    found = re.search(rf'<input[^>]*name="{name}"[^>]*>', page)
    assert found, name
    value = re.search(r'value="([^"]*)"', found.group(0))
    return html.unescape(value.group(1)) if value else ""


def test_a_card_launch_fills_the_form_with_the_ehrs_patient_and_the_cards_indication(
    client: Client,
    ehr: Ehr,
    world: FlowPacs,
    actors: Actors,
    smart_ehr: SmartEhr,  # noqa: F811
) -> None:
    smart = _smart_link(client, ehr, smart_ehr, actors)
    assert smart["url"] == "http://testserver/orders/smart/launch/"
    consultation = Consultation.objects.get(pk=smart["appContext"])
    smart_ehr.resources["Patient/p1"] = _ehr_patient(WITHOUT_PRIORS, "Durand", ["Anne", "Marie"])
    smart_ehr.resources["Observation"] = searchset(
        observation("29463-7", valueQuantity={"value": 64, "unit": "kg", "code": "kg"})
    )
    alice = _signed_in(actors)
    back = _launch(alice, smart_ehr, smart_ehr.launch("p1", smart["appContext"]))
    assert back.status_code == 302 and back["Location"] == "/orders/new/?launch=smart"
    page = alice.get(back["Location"]).content.decode()
    assert _value(page, "identifier") == WITHOUT_PRIORS
    assert _value(page, "birth_name") == "Durand"
    assert _value(page, "given_names") == "Anne Marie"
    assert _value(page, "postcode") == "35000"
    assert float(_value(page, "weight_kg").replace(",", ".")) == 64
    assert _checked(page, "indication_code") == [consultation.indication_code]
    assert "Patient renseigné depuis le dossier" in html.unescape(page)
    # The access token was asked for with PKCE and used on the FHIR server only.
    assert "/auth/token" in smart_ehr.requests and "/fhir/Patient/p1" in smart_ehr.requests
    # Recorded under the pseudonym, never the identifier.
    event = AuditEvent.objects.get(action="smart.launch")
    assert event.patient_ref == consultation.patient_ref
    assert WITHOUT_PRIORS not in str(event.detail)
    # The filled form decides as a typed one does, and the order can be signed.
    fields = {
        name: _value(page, name)
        for name in ("identifier", "birth_date", "postcode", "birth_name", "given_names")
    }
    decided = alice.post(
        "/orders/new/",
        {
            **fields,
            "identifier_kind": "local",
            "sex": "F",
            "pregnancy": "no",
            "indication_code": consultation.indication_code,
        },
    )
    assert decided.status_code == 302, decided.content.decode()[:2000]
    assert 'name="slot_id"' in alice.get(decided["Location"]).content.decode()


def test_a_launch_without_a_card_fills_the_patient_only(
    client: Client,
    ehr: Ehr,
    world: FlowPacs,
    actors: Actors,
    smart_ehr: SmartEhr,  # noqa: F811
) -> None:
    _registered(ehr, smart_ehr, actors)
    smart_ehr.resources["Patient/p1"] = _ehr_patient(WITHOUT_PRIORS, "Durand", ["Anne"])
    smart_ehr.resources["Observation"] = searchset()
    client.force_login(actors.alice)
    back = _launch(client, smart_ehr, smart_ehr.launch("p1"))
    page = client.get(back["Location"]).content.decode()
    assert _value(page, "identifier") == WITHOUT_PRIORS
    assert _checked(page, "indication_code") == []


def test_a_card_about_another_patient_does_not_carry_its_indication(
    client: Client,
    ehr: Ehr,
    world: FlowPacs,
    actors: Actors,
    smart_ehr: SmartEhr,  # noqa: F811
) -> None:
    smart = _smart_link(client, ehr, smart_ehr, actors)
    smart_ehr.resources["Patient/p2"] = _ehr_patient(WITH_MAMMOGRAM, "Martin", ["Louise"])
    smart_ehr.resources["Observation"] = searchset()
    alice = _signed_in(actors)
    back = _launch(alice, smart_ehr, smart_ehr.launch("p2", smart["appContext"]))
    page = html.unescape(alice.get(back["Location"]).content.decode())
    assert _value(page, "identifier") == WITH_MAMMOGRAM
    assert "La carte concernait un autre patient" in page
    assert _checked(page, "indication_code") == []


def test_an_unregistered_server_a_refusal_and_a_replay_are_each_said(
    client: Client,
    ehr: Ehr,
    world: FlowPacs,
    actors: Actors,
    smart_ehr: SmartEhr,  # noqa: F811
) -> None:
    client.force_login(actors.alice)
    # Not registered for SMART: refused before anything is fetched from it.
    refused = client.get("/orders/smart/launch/", {"iss": smart_ehr.url, "launch": "x"})
    assert refused.status_code == 400
    assert "n’est pas enregistré" in html.unescape(refused.content.decode())
    assert smart_ehr.requests == []
    _registered(ehr, smart_ehr, actors)
    smart_ehr.resources["Patient/p1"] = _ehr_patient(WITHOUT_PRIORS, "Durand", ["Anne"])
    # The EHR's user refuses the authorization.
    smart_ehr.deny = "access_denied"
    denied = _launch(client, smart_ehr, smart_ehr.launch("p1"))
    assert denied.status_code == 400
    assert "access_denied" in denied.content.decode()
    # A callback replayed (same state twice) is refused the second time.
    smart_ehr.deny = ""
    started = client.get(
        "/orders/smart/launch/", {"iss": smart_ehr.url, "launch": smart_ehr.launch("p1")}
    )
    back = urlsplit(
        requests.get(started["Location"], allow_redirects=False, timeout=5).headers["Location"]
    )
    assert client.get(f"{back.path}?{back.query}").status_code == 302
    replayed = client.get(f"{back.path}?{back.query}")
    assert replayed.status_code == 400
    assert "inconnu ou a expiré" in html.unescape(replayed.content.decode())
    # Anonymous: to the login page first, the launch parameters kept for after.
    anonymous = Client().get("/orders/smart/launch/", {"iss": smart_ehr.url, "launch": "y"})
    assert anonymous.status_code == 302 and "/login" in anonymous["Location"]
