"""The subscriber registry.

A subscriber is a function in its own app, registered with a decorator and discovered when
apps load (``<app>.subscribers`` modules are imported by ``EventsConfig.ready``)::

    @subscriber("expense.approved", name="accounting.post_approved_expense", max_attempts=10)
    def post_approved_expense(event: ExpenseApproved, envelope: Envelope) -> None: ...

The handler runs inside the delivery's transaction: its writes and the "done" mark commit
together, so a redelivered message finds the delivery done and does nothing. ``"*"`` subscribes
to every event type, including types declared later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

ALL_EVENTS = "*"
DEFAULT_QUEUE = "events"
# An event's one fan-out message (see ``events.sending``) has a queue of its own, so the sweeper can
# tell how many of them wait (each stands for up to one delivery per subscriber) apart from the
# delivery messages. Every worker that runs deliveries also consumes it.
FANOUT_QUEUE = "fanout"


@dataclass(frozen=True)
class Subscriber:
    name: str
    event_types: tuple[str, ...]
    handler: Callable = field(compare=False)
    max_attempts: int = 10
    queue: str = DEFAULT_QUEUE
    timeout: int = 30

    def wants(self, event_type: str) -> bool:
        return ALL_EVENTS in self.event_types or event_type in self.event_types

    @property
    def description(self) -> str:
        return (self.handler.__doc__ or "").strip().splitlines()[0] if self.handler.__doc__ else ""


_SUBSCRIBERS: dict[str, Subscriber] = {}


def subscriber(*event_types: str, name: str, max_attempts: int = 10, queue: str = DEFAULT_QUEUE,
               timeout: int = 30) -> Callable[[Callable], Callable]:
    """Register the decorated function as subscriber ``name`` (stable: stored in Delivery rows)."""
    if not event_types:
        raise ValueError("a subscriber needs at least one event type")

    def register(handler: Callable) -> Callable:
        existing = _SUBSCRIBERS.get(name)
        if existing is not None and existing.handler.__qualname__ != handler.__qualname__:
            raise ValueError(f"subscriber name {name!r} is already registered")
        _SUBSCRIBERS[name] = Subscriber(name=name, event_types=tuple(event_types), handler=handler,
                                        max_attempts=max_attempts, queue=queue, timeout=timeout)
        return handler

    return register


def unregister(name: str) -> None:
    """Remove a subscriber (tests and benchmarks that register one at run time)."""
    _SUBSCRIBERS.pop(name, None)


def wrap_handlers(wrap: Callable[[Subscriber], Callable]) -> None:
    """Replace every registered subscriber's handler by ``wrap(subscriber)`` (a function taking
    the same ``(event, envelope)``). An extension point for code outside the product, e.g. the
    benchmark's simulated I/O per handler (``bench/hooks.py``); subscribers registered later are
    not wrapped."""
    for name, sub in list(_SUBSCRIBERS.items()):
        _SUBSCRIBERS[name] = replace(sub, handler=wrap(sub))


def subscribers() -> dict[str, Subscriber]:
    return dict(sorted(_SUBSCRIBERS.items()))


def subscribers_for(event_type: str) -> list[Subscriber]:
    return [sub for sub in _SUBSCRIBERS.values() if sub.wants(event_type)]


def get_subscriber(name: str) -> Subscriber | None:
    return _SUBSCRIBERS.get(name)
