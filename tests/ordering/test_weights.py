from __future__ import annotations

from django.test import Client

from imaging_cds.models import AuditEvent
from ordering.models import RankingWeightSet
from ordering.weights import WEIGHT_NAMES, weights_published
from tests.actors import Actors


def form(**changes: str) -> dict[str, str]:
    values = {name: str(getattr(weights_published(), name)) for name in WEIGHT_NAMES}
    return {**values, "reason": "Distance matters more in a rural area", **changes}


def test_an_editor_publishes_new_weights_as_a_new_version(client: Client, actors: Actors) -> None:
    client.force_login(actors.erin)
    assert weights_published().version == 0
    response = client.post("/orders/weights/", form(distance="30"))
    assert response.status_code == 302
    current = weights_published()
    assert (current.version, current.distance) == (1, 30.0)
    client.post("/orders/weights/", form(distance="12", reason="Back to a smaller weight"))
    assert weights_published().version == 2
    statuses = dict(RankingWeightSet.objects.values_list("version", "status"))
    assert statuses == {1: "archived", 2: "published"}
    assert AuditEvent.objects.filter(action="weights.publish").count() == 2


def test_bad_weights_are_refused_inline_and_nothing_changes(client: Client, actors: Actors) -> None:
    client.force_login(actors.erin)
    response = client.post("/orders/weights/", form(wait="-3", reason=""))
    assert response.status_code == 400
    page = response.content.decode()
    assert "Saisissez un nombre entre 0 et 1000" in page
    assert "Indiquez pourquoi les pondérations changent." in page
    assert not RankingWeightSet.objects.exists()


def test_only_guideline_editors_may_change_weights(client: Client, actors: Actors) -> None:
    client.force_login(actors.alice)
    assert client.post("/orders/weights/", form(distance="99")).status_code == 403
    assert not RankingWeightSet.objects.exists()
