"""The card's link opens the consultation only for the local account the EHR client
maps from the hook's userId (EhrPractitioner); any other prescriber, even holding the
link, gets the same 404 as for a consultation that does not exist. Real signed JWTs,
real PostgreSQL, the real options page."""

from __future__ import annotations

from typing import Any

from django.test import Client

from ordering.models import CdsCard, EhrClient, EhrPractitioner
from tests.actors import Actors
from tests.ehr.conftest import Ehr
from tests.ehr.test_cds_hooks import breast_lump, hook_body, order, patient, prefetch
from tests.world import FlowPacs


def _card_path(client: Client, ehr: Ehr, user_id: str = "Practitioner/123") -> tuple[str, Any]:
    body = hook_body("order-select", order("us-breast", breast_lump()), pre=prefetch(patient()))
    body["context"]["userId"] = user_id
    [card] = ehr.hook(client, "imaging-order-select", body).json()["cards"]
    return card["links"][0]["url"].removeprefix("http://testserver"), card["uuid"]


def test_the_card_remembers_the_hooks_user_and_opens_for_the_account_mapped_from_it(
    client: Client, ehr: Ehr, world: FlowPacs, actors: Actors
) -> None:
    EhrPractitioner.objects.create(
        client=ehr.client, ehr_user_id="Practitioner/123", user=actors.bob
    )
    path, card_id = _card_path(client, ehr)
    assert CdsCard.objects.get(pk=card_id).ehr_user_id == "Practitioner/123"
    client.force_login(actors.bob)
    assert client.get(path).status_code == 200
    client.force_login(actors.alice)  # a prescriber, holding the link, not this user
    assert client.get(path).status_code == 404


def test_a_prescriber_mapped_from_another_user_of_the_ehr_gets_404(
    client: Client, ehr: Ehr, world: FlowPacs, actors: Actors
) -> None:
    EhrPractitioner.objects.create(
        client=ehr.client, ehr_user_id="Practitioner/123", user=actors.bob
    )
    EhrPractitioner.objects.create(
        client=ehr.client, ehr_user_id="Practitioner/456", user=actors.alice
    )
    path, _ = _card_path(client, ehr, "Practitioner/456")
    client.force_login(actors.bob)
    assert client.get(path).status_code == 404
    client.force_login(actors.alice)
    assert client.get(path).status_code == 200


def test_the_same_user_id_mapped_under_another_ehr_client_does_not_open_it(
    client: Client, ehr: Ehr, world: FlowPacs, actors: Actors
) -> None:
    other = EhrClient.objects.create(
        name="Other EHR", issuer="https://other-ehr.example.org", user=ehr.client.user
    )
    EhrPractitioner.objects.create(client=other, ehr_user_id="Practitioner/123", user=actors.bob)
    path, _ = _card_path(client, ehr)
    client.force_login(actors.bob)
    assert client.get(path).status_code == 404


def test_a_hook_without_user_id_opens_for_nobody_and_a_deactivated_client_closes_links(
    client: Client, ehr: Ehr, world: FlowPacs, actors: Actors
) -> None:
    EhrPractitioner.objects.create(
        client=ehr.client, ehr_user_id="Practitioner/123", user=actors.bob
    )
    EhrPractitioner.objects.create(client=ehr.client, ehr_user_id="", user=actors.alice)
    anonymous_path, _ = _card_path(client, ehr, "")
    path, _ = _card_path(client, ehr)
    client.force_login(actors.alice)
    assert client.get(anonymous_path).status_code == 404
    client.force_login(actors.bob)
    assert client.get(path).status_code == 200
    EhrClient.objects.filter(pk=ehr.client.pk).update(active=False)
    assert client.get(path).status_code == 404
