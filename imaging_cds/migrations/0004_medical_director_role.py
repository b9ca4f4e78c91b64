from __future__ import annotations

from typing import Any

from django.db import migrations

ROLE = "medical_director"


def create_role(apps: Any, schema_editor: Any) -> None:
    apps.get_model("auth", "Group").objects.get_or_create(name=ROLE)


def remove_role(apps: Any, schema_editor: Any) -> None:
    apps.get_model("auth", "Group").objects.filter(name=ROLE).delete()


class Migration(migrations.Migration):
    dependencies = [("imaging_cds", "0003_audit_append_only")]
    operations = [migrations.RunPython(create_role, remove_role)]
