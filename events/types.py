"""Typed, versioned event types and their canonical JSON form.

A publishing app declares each event it publishes as a frozen dataclass::

    @dataclass(frozen=True, kw_only=True)
    class ExpenseApproved(DomainEvent):
        type: ClassVar[str] = "expense.approved"
        version: ClassVar[int] = 1
        aggregate_type: ClassVar[str] = "expense"
        aggregate_field: ClassVar[str] = "expense_id"

        expense_id: UUID
        amount: Decimal

Fields are checked on construction (a wrong type raises ``InvalidEvent``) and serialised
canonically: ``Decimal`` as a string (exact, never a float), datetimes as ISO 8601 with their
offset, UUIDs as strings. ``from_payload`` gives back an equal object, so handlers receive the
typed event, never a dict.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import json
import types
import typing
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar
from uuid import UUID

from .errors import InvalidEvent, UnknownEventType

_EVENT_TYPES: dict[str, type[DomainEvent]] = {}

# Names the envelope (the ``Event`` row and the handler's ``Envelope``) and the class itself use.
# A payload field by one of these names would shadow it: ``version: int`` made every stored
# ``policy.changed`` carry the policy's number as its schema version. Not here, on purpose:
# ``organization_id`` (every event carries its organisation, the envelope's value), and
# ``event_id`` / ``delivery_id``, by which ``delivery.dead`` names the dead delivery (its
# aggregate) and that delivery's event; the class has no attribute of those names to shadow.
ENVELOPE_NAMES = frozenset({
    "id", "type", "version", "occurred_at", "aggregate_type", "aggregate_field", "aggregate_id", "sequence",
    "actor_id", "actor_label", "correlation_id", "causation_id", "origin", "publisher", "payload",
})


def event_types() -> dict[str, type[DomainEvent]]:
    """Every declared event type by name (the catalogue is generated from this)."""
    return dict(sorted(_EVENT_TYPES.items()))


def forget_event_type(name: str) -> None:
    """Remove a declared type (tests that declare one at run time leave nothing behind)."""
    cls = _EVENT_TYPES.pop(name, None)
    _HINT_CACHE.pop(cls, None)


def event_type(name: str) -> type[DomainEvent]:
    try:
        return _EVENT_TYPES[name]
    except KeyError:
        raise UnknownEventType(f"unknown event type {name!r}") from None


@dataclasses.dataclass(frozen=True, kw_only=True)
class DomainEvent:
    type: ClassVar[str]
    version: ClassVar[int] = 1
    aggregate_type: ClassVar[str]
    aggregate_field: ClassVar[str]
    publisher: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        clashes = sorted(field for field, hint in inspect.get_annotations(cls).items()
                         if field in ENVELOPE_NAMES and not _is_class_var(hint))
        if clashes:
            raise TypeError(f"{cls.__qualname__}: the fields {clashes} reuse envelope names; rename them "
                            f"(e.g. policy_version, not version)")
        name = cls.__dict__.get("type")
        if not name:
            return  # an abstract intermediate class
        existing = _EVENT_TYPES.get(name)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise TypeError(f"event type {name!r} is declared twice ({existing} and {cls})")
        cls.publisher = cls.__module__.split(".")[0]
        _EVENT_TYPES[name] = cls

    def __post_init__(self) -> None:
        for field, hint in _hints(type(self)).items():
            _check(hint, getattr(self, field), f"{self.type}.{field}")

    @property
    def aggregate_id(self) -> str:
        return str(getattr(self, self.aggregate_field))

    def to_payload(self) -> dict[str, Any]:
        """The canonical JSON-safe form stored in ``Event.payload``."""
        return {field: _encode(getattr(self, field)) for field in _hints(type(self))}

    def to_json(self) -> str:
        return json.dumps(self.to_payload(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def upcast(cls, payload: dict[str, Any]) -> dict[str, Any]:
        """A stored payload in today's shape. The event log is immutable (and the audit chain
        hashes copies of it), so a type whose fields changed reads its old rows through this
        instead of rewriting them. Default: unchanged."""
        return payload

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> DomainEvent:
        payload = cls.upcast(dict(payload))
        hints = _hints(cls)
        missing = [name for name in hints if name not in payload and not _has_default(cls, name)]
        unknown = sorted(set(payload) - set(hints))
        if missing or unknown:
            raise InvalidEvent(f"{cls.type}: missing fields {missing}, unknown fields {unknown}")
        values = {name: _decode(hint, payload[name], f"{cls.type}.{name}")
                  for name, hint in hints.items() if name in payload}
        return cls(**values)

    @classmethod
    def fields_description(cls) -> list[tuple[str, str]]:
        return [(name, _describe(hint)) for name, hint in _hints(cls).items()]


def _is_class_var(hint: Any) -> bool:
    if isinstance(hint, str):  # postponed annotations (from __future__ import annotations)
        return hint.startswith(("ClassVar", "typing.ClassVar"))
    return hint is ClassVar or typing.get_origin(hint) is ClassVar


def _has_default(cls: type, name: str) -> bool:
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    return field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING


_HINT_CACHE: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINT_CACHE:
        all_hints = typing.get_type_hints(cls)
        _HINT_CACHE[cls] = {f.name: all_hints[f.name] for f in dataclasses.fields(cls)}
    return _HINT_CACHE[cls]


def _optional_inner(hint: Any) -> Any | None:
    """``X | None`` -> X; anything else -> None."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and type(None) in typing.get_args(hint):
            return args[0]
    return None


def _check(hint: Any, value: Any, where: str) -> None:
    inner = _optional_inner(hint)
    if inner is not None:
        if value is not None:
            _check(inner, value, where)
        return
    origin = typing.get_origin(hint)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise InvalidEvent(f"{where}: expected a list, got {type(value).__name__}")
        (item_hint, *_) = typing.get_args(hint) or (Any,)
        for index, item in enumerate(value):
            _check(item_hint, item, f"{where}[{index}]")
        return
    if hint is Any:
        return
    if hint is dt.datetime:
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise InvalidEvent(f"{where}: expected a timezone-aware datetime, got {value!r}")
        return
    if hint is dt.date:
        if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
            raise InvalidEvent(f"{where}: expected a date, got {value!r}")
        return
    if hint is int and isinstance(value, bool):
        raise InvalidEvent(f"{where}: expected int, got bool")
    if hint is Decimal and isinstance(value, Decimal) and not value.is_finite():
        raise InvalidEvent(f"{where}: expected a finite Decimal, got {value!r}")
    if not isinstance(value, hint):
        raise InvalidEvent(f"{where}: expected {hint.__name__}, got {type(value).__name__} {value!r}")


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_encode(item) for item in value]
    return value


def _decode(hint: Any, raw: Any, where: str) -> Any:
    inner = _optional_inner(hint)
    if inner is not None:
        return None if raw is None else _decode(inner, raw, where)
    origin = typing.get_origin(hint)
    try:
        if origin in (list, tuple):
            (item_hint, *_) = typing.get_args(hint) or (Any,)
            items = [_decode(item_hint, item, where) for item in raw]
            return tuple(items) if origin is tuple else items
        if hint is Decimal:
            return Decimal(raw)
        if hint is dt.datetime:
            return dt.datetime.fromisoformat(raw)
        if hint is dt.date:
            return dt.date.fromisoformat(raw)
        if hint is UUID:
            return UUID(raw)
    except (TypeError, ValueError, InvalidOperation) as exc:
        raise InvalidEvent(f"{where}: cannot read {raw!r}: {exc}") from None
    return raw


def _describe(hint: Any) -> str:
    inner = _optional_inner(hint)
    if inner is not None:
        return f"{_describe(inner)} | None"
    if typing.get_origin(hint) in (list, tuple):
        (item_hint, *_) = typing.get_args(hint) or (Any,)
        return f"list[{_describe(item_hint)}]"
    return getattr(hint, "__name__", str(hint))
