"""available_options(): the slots that fit a patient, from the Redis cache or, when
Redis is down, from the database (and the result says so)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from scheduling import cache as availability_cache
from scheduling.availability import (
    OpenBore,
    PatientConstraints,
    PatientLocation,
    ProcedureNeed,
    Source,
    available_options,
)
from scheduling.geo import commune_lookup, haversine_km
from scheduling.models import Slot, SlotStatus
from scheduling.services.feeds import availability_refresh
from tests.orthanc import free_port
from tests.scheduling.conftest import make_centre, make_machine

pytestmark = pytest.mark.django_db

RENNES = PatientLocation(48.1114, -1.6800, "Rennes")
MRI = ProcedureNeed(code="MR-KNEE", modality="MR", duration_minutes=20)


@pytest.fixture
def territory(clear_cache: None) -> dict[str, object]:
    """Three MRI centres: open-bore and accessible in Rennes, closed-bore up the
    road with stairs only, and one in Saint-Malo, 60 km away."""
    thabor = make_centre("Thabor", latitude=48.1139, longitude=-1.6688, price_sector="sector_2")
    open_mri = make_machine(thabor, "IRM ouverte", open_bore=True, table_max_weight_kg=200)
    gregoire = make_centre(
        "Saint-Grégoire",
        latitude=48.1489,
        longitude=-1.6838,
        wheelchair_accessible=False,
        kind="public",
    )
    closed_mri = make_machine(gregoire, "IRM 3 T", paediatric=True, contrast_injection=False)
    malo = make_centre("Saint-Malo", latitude=48.6493, longitude=-2.0257, town="Saint-Malo")
    far_mri = make_machine(malo, "IRM", open_bore=True)
    for centre in (thabor, gregoire, malo):
        assert availability_refresh(centre_id=centre.pk).ok
    availability_cache.cache_write_centres([thabor.pk, gregoire.pk, malo.pk])
    return {"open": open_mri, "closed": closed_mri, "far": far_mri}


def _machines(result) -> set[str]:
    return {o.equipment_name for o in result.options}


def test_a_search_reads_the_cache_and_says_how_old_its_answer_is(territory) -> None:
    result = available_options([MRI], RENNES)
    assert result.source is Source.CACHE and not result.degraded
    assert _machines(result) == {"IRM ouverte", "IRM 3 T"}
    assert result.age_seconds is not None and 0 <= result.age_seconds < 60
    starts = [o.start for o in result.options]
    assert starts == sorted(starts)
    # At most three options per (centre, procedure), by default.
    assert len(result.options) == 6
    option = result.options[0]
    assert option.wait_days >= 0 and option.start > timezone.now()
    assert option.read_at <= timezone.now()


def test_each_option_carries_distance_sector_and_kind(territory) -> None:
    result = available_options([MRI], RENNES, per_centre=1)
    by_name = {o.centre_name: o for o in result.options}
    assert by_name["Thabor"].distance_km == pytest.approx(
        haversine_km(48.1114, -1.68, 48.1139, -1.6688), abs=0.1
    )
    assert by_name["Thabor"].sector == "sector_2" and by_name["Thabor"].kind == "private"
    assert by_name["Saint-Grégoire"].kind == "public"


def test_a_farther_radius_reaches_the_centre_60_km_away(territory) -> None:
    result = available_options([MRI], RENNES, PatientConstraints(max_distance_km=80))
    assert "Saint-Malo" in {o.centre_name for o in result.options}


def test_a_claustrophobic_patient_who_needs_an_open_mri_gets_only_open_bore(territory) -> None:
    required = available_options([MRI], RENNES, PatientConstraints(open_bore=OpenBore.REQUIRED))
    assert _machines(required) == {"IRM ouverte"}
    preferred = available_options([MRI], RENNES, PatientConstraints(open_bore=OpenBore.PREFERRED))
    assert _machines(preferred) == {"IRM ouverte", "IRM 3 T"}
    flagged = {o.equipment_name: o.unmet_preferences for o in preferred.options}
    assert flagged == {"IRM ouverte": (), "IRM 3 T": ("open_bore",)}


def test_weight_wheelchair_paediatrics_and_contrast_each_narrow_the_machines(territory) -> None:
    assert _machines(available_options([MRI], RENNES, PatientConstraints(weight_kg=170))) == {
        "IRM ouverte"
    }
    assert _machines(available_options([MRI], RENNES, PatientConstraints(wheelchair=True))) == {
        "IRM ouverte"
    }
    assert _machines(available_options([MRI], RENNES, PatientConstraints(paediatric=True))) == {
        "IRM 3 T"
    }
    contrast = ProcedureNeed(code="MR-BRAIN-C", modality="MR", needs_contrast=True)
    assert _machines(available_options([contrast], RENNES)) == {"IRM ouverte"}


def test_a_machine_limited_to_some_procedures_is_offered_only_for_them(territory) -> None:
    machine = territory["closed"]
    machine.procedure_codes = ["MR-BRAIN"]
    machine.save()
    availability_cache.cache_write_centres([machine.centre_id])
    assert _machines(available_options([MRI], RENNES)) == {"IRM ouverte"}
    brain = ProcedureNeed(code="MR-BRAIN", modality="MR")
    assert "IRM 3 T" in _machines(available_options([brain], RENNES))


def test_a_held_slot_leaves_the_cache_once_the_hold_commits(
    territory, actors, django_capture_on_commit_callbacks
) -> None:
    from scheduling.services.booking import slot_hold

    first = available_options([MRI], RENNES, per_centre=1).options[0]
    with django_capture_on_commit_callbacks(execute=True):
        slot_hold(slot_id=first.slot_id, user=actors.alice)
    again = available_options([MRI], RENNES, per_centre=1)
    assert first.slot_id not in {o.slot_id for o in again.options}


def test_a_missing_cache_entry_is_rebuilt_from_the_database(territory) -> None:
    from django.core.cache import cache

    cache.clear()
    result = available_options([MRI], RENNES)
    assert result.source is Source.CACHE
    assert _machines(result) == {"IRM ouverte", "IRM 3 T"}


def test_when_redis_is_down_the_search_reads_the_database_and_says_so(territory) -> None:
    from_cache = available_options([MRI], RENNES)
    dead = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    with override_settings(CACHES=dead):
        result = available_options([MRI], RENNES)
    assert result.source is Source.DATABASE and result.degraded
    assert "cache unavailable" in result.degraded_reason
    assert [o.slot_id for o in result.options] == [o.slot_id for o in from_cache.options]
    assert result.age_seconds is not None


def test_an_expired_hold_is_offered_again(territory, actors) -> None:
    slot = Slot.objects.filter(equipment=territory["open"]).order_by("start")[0]
    Slot.objects.filter(pk=slot.pk).update(
        status=SlotStatus.HELD, held_by=actors.bob, held_until=timezone.now() - timedelta(1)
    )
    availability_cache.cache_write_centres([slot.equipment.centre_id])
    assert slot.pk in {o.slot_id for o in available_options([MRI], RENNES).options}


def test_a_commune_is_found_by_postcode_or_by_name_without_accents() -> None:
    malo = commune_lookup(postcode="35400")
    gregoire = commune_lookup(name="saint gregoire")
    rennes = commune_lookup(postcode="35000", name="Rennes")
    assert malo is not None and malo.name == "Saint-Malo"
    assert gregoire is not None and gregoire.postcode == "35760"
    assert rennes is not None and rennes.latitude == pytest.approx(48.1114)
    assert commune_lookup(postcode="75001") is None
    assert commune_lookup() is None


def test_an_exam_is_offered_no_slot_before_its_own_earliest_start(territory) -> None:
    soonest = available_options([MRI], RENNES).options[0].start
    later = ProcedureNeed(code="MR-KNEE", modality="MR", not_before=soonest + timedelta(minutes=1))
    result = available_options([later], RENNES)
    assert result.options, "the slots after the earliest start are still offered"
    assert min(o.start for o in result.options) > soonest
