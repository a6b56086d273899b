"""On PostgreSQL the outbox announces its own new rows: a statement-level trigger NOTIFYs
`bookings_outbox` (delivered at commit, dropped on rollback), so the booking's transaction needs
no statement of its own for it. Other databases: nothing (the outbox is woken by a task there)."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION bookings_outbox_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('bookings_outbox', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER bookings_outbox_notify AFTER INSERT ON bookings_notification
    FOR EACH STATEMENT EXECUTE FUNCTION bookings_outbox_notify();
"""
DROP = """
DROP TRIGGER IF EXISTS bookings_outbox_notify ON bookings_notification;
DROP FUNCTION IF EXISTS bookings_outbox_notify();
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("bookings", "0003_notification_token_sealed")]
    operations = [migrations.RunPython(create, drop)]
