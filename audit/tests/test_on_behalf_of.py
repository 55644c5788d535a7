"""The audit trail records a delegate's approval as theirs, on the manager's behalf."""

from __future__ import annotations

import datetime as dt

import pytest

from audit.models import AuditEntry
from events.models import Event
from expenses import delegation, services
from expenses.tests.factories import make_team
from tests.support.deliveries import run_deliveries

pytestmark = pytest.mark.django_db


def test_a_delegates_approval_is_audited_as_approved_by_x_on_behalf_of_y():
    team = make_team()
    expense = team.expense(submit=True)
    delegation.delegation_create(actor=team.manager, delegate_id=team.colleague.pk,
                                 ends_on=team.org.today() + dt.timedelta(days=2))
    services.expense_approve(actor=team.colleague, expense_id=expense.pk)
    run_deliveries(subscriber="audit.record")

    event = Event.objects.get(type="expense.approved", aggregate_id=str(expense.pk))
    entry = AuditEntry.objects.get(event_id=event.id)
    assert (entry.actor_id, entry.on_behalf_of_user_id) == (team.colleague.user_id, team.manager.user_id)
    assert entry.payload["on_behalf_of_name"] == team.manager.display_name
    granted = Event.objects.get(type="delegation.granted")
    assert AuditEntry.objects.filter(event_id=granted.id).exists()  # the delegation itself is audited
