from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from guidelines.models import Procedure
from imaging_cds.roles import Role, user_roles
from scheduling.models import Centre, Slot


@pytest.mark.django_db
def test_the_demo_command_loads_a_territory_users_and_slots() -> None:
    out = StringIO()
    call_command("demo_load", "--force", stdout=out)
    assert Centre.objects.count() >= 12
    assert Centre.objects.filter(kind="public").exists()
    assert Centre.objects.filter(kind="private").exists()
    for centre in Centre.objects.all():
        assert 41.0 < centre.latitude < 51.5 and -5.5 < centre.longitude < 10.0
        assert centre.equipment.values("modality").distinct().count() >= 2
    assert Procedure.objects.filter(modality="MR").exists()
    assert Slot.objects.filter(status="free").count() > 1000
    held = {role for user in User.objects.all() for role in user_roles(user)}
    assert held == set(Role)
    text = out.getvalue()
    assert "dr.martin" in text and "demo-prescripteur" in text
    # Running it twice gives the same territory, not twice as many centres.
    centres = Centre.objects.count()
    call_command("demo_load", "--force", stdout=StringIO())
    assert Centre.objects.count() == centres
