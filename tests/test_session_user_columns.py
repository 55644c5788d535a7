"""The bell's count is read with the session's user (``web/apps.py`` registers it with
``organizations.authentication.read_with_the_session_user``): every page shows the count as it is
when the page is asked for, without a statement of its own. Here, not in an app's tests: it joins
the pages, the notifications and the organisations (the import contracts)."""

from __future__ import annotations

import re
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from expenses.tests.factories import make_team
from notifications.models import Kind, Notification
from notifications.services import notification_mark_all_read

pytestmark = pytest.mark.django_db


def _badge(html: str) -> int:
    return int(re.search(r'id="unread-badge"[^>]*data-count="(\d+)"', html).group(1))


def _notify(user, organization, count: int) -> None:
    for i in range(count):
        Notification.objects.create(recipient=user, organization_id=organization.pk, kind=Kind.EXPENSE_SUBMITTED,
                                    title=f"Waiting {i}", source_event_id=uuid.uuid4())


def test_every_page_shows_the_count_read_with_the_user_and_no_statement_of_its_own(client):
    team = make_team()
    client.force_login(team.manager.user, backend="organizations.authentication.MemberModelBackend")
    assert _badge(client.get("/approvals/").content.decode()) == 0

    _notify(team.manager.user, team.org, 3)
    _notify(team.employee.user, team.org, 2)  # somebody else's
    with CaptureQueriesContext(connection) as read:
        html = client.get("/approvals/").content.decode()
    assert _badge(html) == 3
    assert not [q for q in read.captured_queries if q["sql"].startswith("SELECT COUNT(*)")]  # none of its own
    assert "notifications_notification" in next(q["sql"] for q in read.captured_queries if '"username"' in q["sql"])

    Notification.objects.filter(recipient=team.manager.user).order_by("created_at").first().delete()
    assert _badge(client.get("/expenses/").content.decode()) == 2
    notification_mark_all_read(user=team.manager.user)
    assert _badge(client.get("/expenses/").content.decode()) == 0


def test_the_api_token_read_and_the_badge_fragment_are_unchanged(client):
    team = make_team()
    _notify(team.manager.user, team.org, 2)
    client.force_login(team.manager.user, backend="organizations.authentication.MemberModelBackend")
    assert _badge(client.get("/notifications/badge/").content.decode()) == 2
    assert client.get("/api/v1/notifications/").status_code == 200  # the session's user, through DRF
