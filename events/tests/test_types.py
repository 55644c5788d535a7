"""Event types: a payload field may not reuse a name of the envelope it travels in."""

from __future__ import annotations

import pytest

from events.types import ENVELOPE_NAMES, DomainEvent, event_types


@pytest.mark.parametrize("name", ["version", "type", "occurred_at", "sequence", "correlation_id"])
def test_an_event_type_with_a_field_named_like_the_envelope_is_refused_and_not_registered(name):
    before = event_types()
    with pytest.raises(TypeError, match=name):
        type("Clashing", (DomainEvent,), {  # a class statement whose field is called ``name``
            "__annotations__": {"type": "ClassVar[str]", name: "int"}, "type": "test.clashing",
            "aggregate_type": "test", "aggregate_field": "key", "__module__": __name__})
    assert event_types() == before


def test_no_declared_event_type_has_a_field_named_like_the_envelope():
    for name, cls in event_types().items():
        clashes = {field for field, _ in cls.fields_description()} & ENVELOPE_NAMES
        assert not clashes, f"{name} has fields {clashes}"
