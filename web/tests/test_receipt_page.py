"""Downloading a receipt: the file as an attachment, and a clear 404 (not a 500) when the
storage no longer has the file a row names."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from expenses.tests.factories import make_team

pytestmark = pytest.mark.django_db


def test_a_receipt_is_served_as_an_attachment_and_a_missing_file_is_404(client):
    team = make_team()
    expense = team.expense(submit=True)
    client.force_login(team.manager.user)
    url = f"/expenses/{expense.pk}/receipt/"

    served = client.get(url)
    assert served.status_code == 200 and served["Content-Disposition"].startswith("attachment;")
    assert b"".join(served.streaming_content).startswith(b"\x89PNG")

    Path(settings.MEDIA_ROOT, expense.receipt.name).unlink()
    assert client.get(url).status_code == 404
