"""The centre manager's pages: only their own centres, inline errors, nothing lost."""

from __future__ import annotations

import pytest
from django.test import Client

from scheduling.models import Centre, Equipment, FeedState
from tests.actors import Actors
from tests.scheduling.conftest import make_centre, make_machine

pytestmark = pytest.mark.django_db


@pytest.fixture
def centres(actors: Actors) -> dict[str, Centre]:
    carols = make_centre("Imagerie de Carol")
    carols.managers.add(actors.carol)
    make_machine(carols, "Scanner", "CT")
    daves = make_centre("Radiologie de Dave", town="Vitré")
    daves.managers.add(actors.dave)
    make_machine(daves, "IRM", "MR")
    return {"carol": carols, "dave": daves}


def _as(user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="fr")
    client.force_login(user)
    return client


def _hours_post(**days: str) -> dict[str, str]:
    data = {d: "" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    data.update(days)
    return data


def test_a_manager_sees_only_their_centres_and_each_feed_state(centres, actors) -> None:
    FeedState.objects.create(
        centre=centres["carol"],
        next_run_at="2031-01-01T08:00Z",
        last_error="HTTP 500 from x",
        consecutive_failures=2,
    )
    page = _as(actors.carol).get("/centres/").content.decode()
    assert "Imagerie de Carol" in page and "Radiologie de Dave" not in page
    assert "HTTP 500 from x" in page and "2 échecs de suite" in page


def test_the_home_tile_links_to_the_centre_pages(actors) -> None:
    assert 'href="/centres/"' in _as(actors.carol).get("/").content.decode()


def test_guessing_another_managers_centre_id_gives_404_and_changes_nothing(centres, actors) -> None:
    dave_id = centres["dave"].pk
    machine_id = Equipment.objects.get(centre_id=dave_id).pk
    carol = _as(actors.carol)
    assert carol.get(f"/centres/{dave_id}/").status_code == 404
    assert carol.get(f"/centres/{dave_id}/feed/").status_code == 404
    assert (
        carol.post(f"/centres/{dave_id}/hours/", _hours_post(mon="00:00-23:00")).status_code == 404
    )
    assert carol.post(f"/centres/{dave_id}/edit/", {"name": "Pris"}).status_code == 404
    assert carol.get(f"/centres/{dave_id}/equipment/{machine_id}/").status_code == 404
    # Carol's own centre id with Dave's machine id: still not hers.
    own = centres["carol"].pk
    assert carol.post(f"/centres/{own}/equipment/{machine_id}/", {"name": "x"}).status_code == 404
    daves = Centre.objects.get(pk=dave_id)
    assert daves.name == "Radiologie de Dave" and daves.opening_hours["mon"] == [["08:00", "18:00"]]
    assert Equipment.objects.get(pk=machine_id).name == "IRM"


def test_users_without_the_role_are_refused_and_anonymous_users_sent_to_login(
    centres, actors
) -> None:
    assert _as(actors.alice).get("/centres/").status_code == 403
    assert _as(actors.mallory).get(f"/centres/{centres['carol'].pk}/").status_code == 403
    response = Client().get("/centres/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_bad_hour_is_shown_next_to_its_field_and_nothing_is_saved(centres, actors) -> None:
    centre = centres["carol"]
    response = _as(actors.carol).post(
        f"/centres/{centre.pk}/hours/",
        _hours_post(mon="08:00-12:00", tue="08:00-25:00"),
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="id_tue_error"' in body and "25:00" in body
    assert 'value="08:00-12:00"' in body  # what was typed is kept
    assert "<html" not in body  # htmx gets the form partial only
    centre.refresh_from_db()
    assert centre.opening_hours["mon"] == [["08:00", "18:00"]]


def test_good_hours_are_saved_and_make_the_feed_due(centres, actors) -> None:
    centre = centres["carol"]
    response = _as(actors.carol).post(
        f"/centres/{centre.pk}/hours/",
        _hours_post(mon="8h00-12h30, 13:30-19:00", sat="09:00-12:00"),
        HTTP_HX_REQUEST="true",
    )
    assert "Horaires enregistrés." in response.content.decode()
    centre.refresh_from_db()
    assert centre.opening_hours == {
        "mon": [["08:00", "12:30"], ["13:30", "19:00"]],
        "sat": [["09:00", "12:00"]],
    }
    assert FeedState.objects.filter(centre=centre).exists()


def test_a_bad_centre_field_keeps_the_saved_centre_intact(centres, actors) -> None:
    centre = centres["carol"]
    data = {
        "name": "Nouveau nom",
        "kind": "private",
        "price_sector": "sector_1",
        "address": "1 rue",
        "postcode": "35000",
        "town": "Rennes",
        "latitude": "148",
        "longitude": "-1.6",
        "feed_interval_seconds": "300",
    }
    body = _as(actors.carol).post(f"/centres/{centre.pk}/edit/", data).content.decode()
    assert 'id="id_latitude_error"' in body
    centre.refresh_from_db()
    assert centre.name == "Imagerie de Carol"
    data["latitude"] = "48.2"
    response = _as(actors.carol).post(f"/centres/{centre.pk}/edit/", data)
    assert response.status_code == 302
    centre.refresh_from_db()
    assert (centre.name, centre.latitude) == ("Nouveau nom", 48.2)


def test_a_manager_adds_and_edits_equipment_with_capabilities(centres, actors) -> None:
    centre = centres["carol"]
    carol = _as(actors.carol)
    data = {
        "name": "IRM ouverte",
        "modality": "MR",
        "open_bore": "on",
        "table_max_weight_kg": "220",
        "contrast_injection": "on",
        "slot_minutes": "30",
        "fhir_schedule": "Schedule/irm-o",
        "procedure_codes_text": "MR-KNEE, MR-SPINE",
    }
    assert carol.post(f"/centres/{centre.pk}/equipment/new/", data).status_code == 302
    machine = Equipment.objects.get(centre=centre, name="IRM ouverte")
    assert machine.open_bore and machine.table_max_weight_kg == 220
    assert machine.procedure_codes == ["MR-KNEE", "MR-SPINE"]
    data["slot_minutes"] = "2"
    body = carol.post(f"/centres/{centre.pk}/equipment/{machine.pk}/", data).content.decode()
    assert 'id="id_slot_minutes_error"' in body
    machine.refresh_from_db()
    assert machine.slot_minutes == 30
