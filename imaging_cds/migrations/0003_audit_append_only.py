from __future__ import annotations

from typing import Any

from django.db import migrations

# Application code can insert audit rows, never change or remove them. The only
# exception is the retention purge, which must say so for its own transaction
# (SET LOCAL imaging_cds.audit_purge = 'on') and may then delete old rows.
POSTGRES_UP = """
CREATE OR REPLACE FUNCTION imaging_cds_audit_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('imaging_cds.audit_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION USING MESSAGE = 'audit records are append-only (' || TG_OP || ' refused)';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER imaging_cds_audit_append_only
    BEFORE UPDATE OR DELETE ON imaging_cds_auditevent
    FOR EACH ROW EXECUTE FUNCTION imaging_cds_audit_append_only();
"""
POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS imaging_cds_audit_append_only ON imaging_cds_auditevent;
DROP FUNCTION IF EXISTS imaging_cds_audit_append_only();
"""
SQLITE_UP = [
    """CREATE TRIGGER imaging_cds_audit_no_update BEFORE UPDATE ON imaging_cds_auditevent
       BEGIN SELECT RAISE(ABORT, 'audit records are append-only (UPDATE refused)'); END;""",
    """CREATE TRIGGER imaging_cds_audit_no_delete BEFORE DELETE ON imaging_cds_auditevent
       BEGIN SELECT RAISE(ABORT, 'audit records are append-only (DELETE refused)'); END;""",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS imaging_cds_audit_no_update;",
    "DROP TRIGGER IF EXISTS imaging_cds_audit_no_delete;",
]


def forwards(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_UP)
    elif vendor == "sqlite":
        for statement in SQLITE_UP:
            schema_editor.execute(statement)


def backwards(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_DOWN)
    elif vendor == "sqlite":
        for statement in SQLITE_DOWN:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("imaging_cds", "0002_audit_event")]
    operations = [migrations.RunPython(forwards, backwards)]
