from django.db import migrations

# The event log is append-only: PostgreSQL refuses UPDATE and DELETE on events, whoever asks.
SQL = """
CREATE OR REPLACE FUNCTION events_event_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'events are immutable: % on events_event refused', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER events_event_no_update_delete
    BEFORE UPDATE OR DELETE ON events_event
    FOR EACH ROW EXECUTE FUNCTION events_event_immutable();
"""

REVERSE = """
DROP TRIGGER IF EXISTS events_event_no_update_delete ON events_event;
DROP FUNCTION IF EXISTS events_event_immutable();
"""


class Migration(migrations.Migration):
    dependencies = [("events", "0001_initial")]
    operations = [migrations.RunSQL(SQL, REVERSE)]
