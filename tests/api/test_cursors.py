"""A forged cursor is bad input (400 ``invalid_cursor``) on every cursor-paginated list, never a
500: the lists are found from the URL configuration, so a new list is covered by itself."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from expenses.tests.factories import make_team


def _patterns(resolver, prefix=""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _patterns(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def cursor_lists() -> list[str]:
    patterns = list(_patterns(get_resolver()))  # imports every view, DRF's settings first
    from core.api import StrictCursorPagination

    found = []
    for route, callback in patterns:
        view = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
        pagination = getattr(view, "pagination_class", None)
        if pagination and issubclass(pagination, StrictCursorPagination) and "<" not in route:
            found.append("/" + route)
    return sorted(found)


LISTS = cursor_lists()
FORGED = {"p=abc": base64.b64encode(b"p=abc").decode(), "r=1&p=zzz": base64.b64encode(b"r=1&p=zzz").decode(),
          "o=1&p=9999-99-99": base64.b64encode(b"o=1&p=9999-99-99").decode()}
# A bare year: no timestamp (400 on the lists ordered by time), but a fine position on the audit
# trail, which is ordered by sequence number (200). Never a 500.
YEAR = "cD0yMDI2"


def test_the_lists_are_found():
    assert len(LISTS) >= 10, LISTS
    assert "/api/v1/audit/" in LISTS and "/api/v1/expenses/" in LISTS


@pytest.mark.django_db
@pytest.mark.parametrize("path", LISTS)
def test_a_forged_cursor_is_a_400_on_every_list(path):
    team = make_team()
    client = APIClient()
    client.force_authenticate(team.admin.user)
    assert client.get(path).status_code == 200, path
    for name, cursor in FORGED.items():
        response = client.get(f"{path}?cursor={quote(cursor)}")
        assert response.status_code == 400, (path, name, response.content[:200])
        assert response.json()["code"] == "invalid_cursor"
    year = client.get(f"{path}?cursor={YEAR}")
    assert year.status_code == (200 if path == "/api/v1/audit/" else 400), (path, year.content[:200])


@pytest.mark.django_db
def test_a_real_cursor_still_pages():
    team = make_team()
    for _ in range(3):
        team.expense()
    client = APIClient()
    client.force_authenticate(team.admin.user)
    first = client.get("/api/v1/expenses/?page_size=2").json()
    second = client.get(first["next"]).json()
    assert len(first["results"]) == 2 and len(second["results"]) == 1
