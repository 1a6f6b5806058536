"""On PostgreSQL, audit rows are append-only in the database too: UPDATE and DELETE raise.
(TRUNCATE, which only the database's owner can run, is not refused: an operator pruning a very
old log does it deliberately.)"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION ops_auditentry_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit rows are append-only (%)', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER ops_auditentry_append_only BEFORE UPDATE OR DELETE ON ops_auditentry
    FOR EACH ROW EXECUTE FUNCTION ops_auditentry_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS ops_auditentry_append_only ON ops_auditentry;
DROP FUNCTION IF EXISTS ops_auditentry_append_only();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("ops", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
