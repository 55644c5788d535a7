"""The commands' plain input path (``expenses.api._plain_version``) answers exactly what
``VersionIn`` would, and leaves everything else to the serializer and its one error shape."""

from __future__ import annotations

import pytest
from django.http import QueryDict

from expenses.api import VersionIn, _plain_version


@pytest.mark.parametrize("data", [{}, {"version": 1}, {"version": 2**31}, QueryDict("")])
def test_the_plain_path_is_what_the_serializer_validates(data):
    serializer = VersionIn(data=data)
    assert serializer.is_valid()
    assert _plain_version(data) == serializer.validated_data


@pytest.mark.parametrize("data", [[], None, "1", {"version": "3"}, {"version": True}, {"version": 0},
                                  {"version": 2**31 + 1}, {"version": 1.0}, {"version": None},
                                  {"version": 1, "note": "x"}, QueryDict("version=2")])
def test_anything_else_is_left_to_the_serializer(data):
    assert _plain_version(data) is None
