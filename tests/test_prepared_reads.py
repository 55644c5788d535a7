"""The pages' fixed reads (``core.prepared``) answer the same with ``DATABASE_PREPARED_STATEMENTS=0``,
through the ORM's client-side cursor, as behind a pooler that cannot keep prepared statements. Here,
not in ``expenses/tests``: it reads the subscribers' apps too (the import contracts)."""

from __future__ import annotations

import pytest
from django.test.utils import override_settings

from expenses.tests.factories import make_team

pytestmark = pytest.mark.django_db


def test_the_pages_fixed_reads_answer_the_same_with_the_setting_off():
    """The reads the pages added to ``core.prepared`` (the timeline's deliveries take an array,
    the filter choices a boolean) answer the same through the ORM's client-side cursor, as they
    do behind a pooler that cannot keep prepared statements."""
    from accounting.queries import reimbursement_state
    from events.queries import timeline
    from expenses import comments, services
    from expenses.queries import comment_thread
    from notifications.queries import unread_count
    from organizations.queries import filter_choices
    from tests.support.deliveries import run_deliveries

    team = make_team()
    expense = team.expense(amount="12.00", submit=True)
    comments.comment_add(actor=team.manager, expense_id=expense.pk, body="Which client?")
    services.expense_approve(actor=team.manager, expense_id=expense.pk)
    run_deliveries()

    def answers():
        entries = timeline(organization_id=team.org.pk, aggregate_type="expense", aggregate_id=str(expense.pk))
        return ([(e.event.pk, [(d.subscriber, d.status, len(d.attempt_log)) for d in e.deliveries]) for e in entries],
                unread_count(team.manager.user), unread_count(team.employee.user),
                reimbursement_state(team.org.pk, expense.pk), filter_choices(team.manager, people=True),
                [(c.pk, c.author.user.username) for c in comment_thread(expense)])

    on = answers()
    with override_settings(DATABASE_PREPARED_STATEMENTS=False):
        off = answers()
    assert on == off
    assert any(lines for _, lines in on[0]) and on[3] == "queued" and on[5]
