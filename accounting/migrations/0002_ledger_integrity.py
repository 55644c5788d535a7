from django.db import migrations

# PostgreSQL keeps the ledger honest, whoever writes to it:
# 1. every journal entry balances (debits = credits) and has at least two lines, checked when the
#    transaction commits (deferred constraint triggers), so an entry can be built line by line;
# 2. posted entries and lines are immutable: UPDATE and DELETE are refused (corrections are
#    reversal entries). TRUNCATE is not a row operation and stays available to test teardown.
SQL = """
CREATE OR REPLACE FUNCTION accounting_check_entry_balanced(entry uuid) RETURNS void AS $$
DECLARE
    d numeric; c numeric; n integer;
BEGIN
    SELECT COALESCE(SUM(debit), 0), COALESCE(SUM(credit), 0), COUNT(*) INTO d, c, n
      FROM accounting_journalline WHERE entry_id = entry;
    IF n < 2 THEN
        RAISE EXCEPTION 'journal entry % has % line(s); an entry needs at least two', entry, n
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF d <> c THEN
        RAISE EXCEPTION 'journal entry % is unbalanced: debits % <> credits %', entry, d, c
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION accounting_line_balanced() RETURNS trigger AS $$
BEGIN
    PERFORM accounting_check_entry_balanced(NEW.entry_id);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION accounting_entry_balanced() RETURNS trigger AS $$
BEGIN
    PERFORM accounting_check_entry_balanced(NEW.id);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER accounting_journalline_balanced
    AFTER INSERT ON accounting_journalline
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION accounting_line_balanced();

CREATE CONSTRAINT TRIGGER accounting_journalentry_balanced
    AFTER INSERT ON accounting_journalentry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION accounting_entry_balanced();

CREATE OR REPLACE FUNCTION accounting_posted_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'posted ledger rows are immutable: % on % refused (post a reversal instead)',
        TG_OP, TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER accounting_journalline_immutable BEFORE UPDATE OR DELETE ON accounting_journalline
    FOR EACH ROW EXECUTE FUNCTION accounting_posted_immutable();
CREATE TRIGGER accounting_journalentry_immutable BEFORE UPDATE OR DELETE ON accounting_journalentry
    FOR EACH ROW EXECUTE FUNCTION accounting_posted_immutable();
"""

REVERSE = """
DROP TRIGGER IF EXISTS accounting_journalline_balanced ON accounting_journalline;
DROP TRIGGER IF EXISTS accounting_journalentry_balanced ON accounting_journalentry;
DROP TRIGGER IF EXISTS accounting_journalline_immutable ON accounting_journalline;
DROP TRIGGER IF EXISTS accounting_journalentry_immutable ON accounting_journalentry;
DROP FUNCTION IF EXISTS accounting_line_balanced();
DROP FUNCTION IF EXISTS accounting_entry_balanced();
DROP FUNCTION IF EXISTS accounting_posted_immutable();
DROP FUNCTION IF EXISTS accounting_check_entry_balanced(uuid);
"""


class Migration(migrations.Migration):
    dependencies = [("accounting", "0001_initial")]
    operations = [migrations.RunSQL(SQL, REVERSE)]
