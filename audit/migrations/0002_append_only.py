from django.db import migrations

# The audit table is append-only for everyone who goes through triggers, the application's own
# database role included: UPDATE and DELETE are refused; TRUNCATE is refused while the table has
# rows (truncating an empty table destroys nothing, which lets the test suite's flush run after
# the explicit maintenance path below has emptied it).
#
# The one maintenance path: a superuser session with `SET session_replication_role = replica`
# (triggers do not fire; only superusers may set it) — used by the test suite through
# DATABASE_ADMIN_URL, and by an operator applying a legal retention policy. Never the app's role.
SQL = """
CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % on audit_auditentry refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION audit_no_truncate() RETURNS trigger AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM audit_auditentry) THEN
        RAISE EXCEPTION 'the audit trail is append-only: TRUNCATE refused'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_auditentry_no_update_delete BEFORE UPDATE OR DELETE ON audit_auditentry
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_auditentry_no_truncate BEFORE TRUNCATE ON audit_auditentry
    FOR EACH STATEMENT EXECUTE FUNCTION audit_no_truncate();
"""

REVERSE = """
DROP TRIGGER IF EXISTS audit_auditentry_no_update_delete ON audit_auditentry;
DROP TRIGGER IF EXISTS audit_auditentry_no_truncate ON audit_auditentry;
DROP FUNCTION IF EXISTS audit_append_only();
DROP FUNCTION IF EXISTS audit_no_truncate();
"""


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [migrations.RunSQL(SQL, REVERSE)]
