"""The subscriber registry.

A subscriber is a function in its own app, registered with a decorator and discovered when
apps load (``<app>.subscribers`` modules are imported by ``EventsConfig.ready``)::

    @subscriber("expense.approved", name="accounting.post_approved_expense", max_attempts=10)
    def post_approved_expense(event: ExpenseApproved, envelope: Envelope) -> None: ...

The handler runs inside the delivery's transaction: its writes and the "done" mark commit
together, so a redelivered message finds the delivery done and does nothing. ``"*"`` subscribes
to every event type, including types declared later. In a batch (a backlog) several handlers
share one savepoint, and when one of them raises the others are rolled back and run again, so a
handler may run more than once per attempt: its effects belong in the database, or after commit
(``core.after_commit``, dropped with a rolled-back savepoint), as a retry already requires.

A subscriber whose work amortises over many events (one upsert per counter instead of one per
event, one lock of a chain head instead of one per entry) may also declare a *batch form*, which
a worker calls once for a batch of that subscriber's deliveries::

    @subscriber_batch("expenses.monthly_spend")
    def update_monthly_spend_batch(deliveries: list[tuple[ExpenseEvent, Envelope]]) -> None: ...

It runs in the batch's transaction, in one savepoint, and must land exactly the effect of
calling the per-event handler on each delivery in the order given. If it raises, the savepoint
is rolled back and the worker runs the same deliveries one by one through the per-event handler
(a savepoint each), so only the delivery that fails there fails. A batch of one always goes to
the per-event handler.
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
    label: str = ""  # what the effect is called on screens ("Ledger posted"); default: the description
    # The batch form (``subscriber_batch``): takes [(event, envelope), ...] of several deliveries.
    batch_handler: Callable | None = field(default=None, compare=False)
    # Drains of a backlog that run at once (``events.running.drain``). One for a subscriber whose
    # time is its own work (a batch amortises it); more for one that waits on a remote system,
    # deployed on a worker of threads: a single drain would run its backlog one wait at a time.
    drains: int = 1

    def wants(self, event_type: str) -> bool:
        return ALL_EVENTS in self.event_types or event_type in self.event_types

    @property
    def description(self) -> str:
        return (self.handler.__doc__ or "").strip().splitlines()[0] if self.handler.__doc__ else ""

    @property
    def effect_label(self) -> str:
        return self.label or self.description or self.name


_SUBSCRIBERS: dict[str, Subscriber] = {}


def subscriber(*event_types: str, name: str, max_attempts: int = 10, queue: str = DEFAULT_QUEUE,
               timeout: int = 30, label: str = "", drains: int = 1) -> Callable[[Callable], Callable]:
    """Register the decorated function as subscriber ``name`` (stable: stored in Delivery rows).
    ``drains``: how many drains work off its backlog at once (see ``Subscriber.drains``)."""
    if not event_types:
        raise ValueError("a subscriber needs at least one event type")
    if isinstance(drains, bool) or not isinstance(drains, int) or drains < 1:
        raise ValueError("drains is a whole number of at least 1")

    def register(handler: Callable) -> Callable:
        existing = _SUBSCRIBERS.get(name)
        if existing is not None and existing.handler.__qualname__ != handler.__qualname__:
            raise ValueError(f"subscriber name {name!r} is already registered")
        # Registered again (a module imported twice): keep the batch form its module declared.
        batch_handler = existing.batch_handler if existing is not None else None
        _SUBSCRIBERS[name] = Subscriber(name=name, event_types=tuple(event_types), handler=handler,
                                        max_attempts=max_attempts, queue=queue, timeout=timeout, label=label,
                                        batch_handler=batch_handler, drains=drains)
        return handler

    return register


def subscriber_batch(name: str) -> Callable[[Callable], Callable]:
    """Register the decorated function as the batch form of subscriber ``name`` (declared before
    it, by ``subscriber``): called with ``[(event, envelope), ...]`` for a batch of its deliveries,
    in claim order. See the module's docstring for what it must guarantee."""

    def register(batch_handler: Callable) -> Callable:
        existing = _SUBSCRIBERS.get(name)
        if existing is None:
            raise LookupError(f"subscriber {name!r} must be registered before its batch form")
        _SUBSCRIBERS[name] = replace(existing, batch_handler=batch_handler)
        return batch_handler

    return register


def unregister(name: str) -> None:
    """Remove a subscriber (tests and benchmarks that register one at run time)."""
    _SUBSCRIBERS.pop(name, None)


def wrap_handlers(wrap: Callable[[Subscriber], Callable]) -> None:
    """Replace every registered subscriber's handler by ``wrap(subscriber)`` (a function taking
    the same ``(event, envelope)``). An extension point for code outside the product, e.g. the
    benchmark's simulated I/O per handler (``bench/hooks.py``); subscribers registered later are
    not wrapped. A wrapped subscriber loses its batch form, so that every delivery goes through
    the wrapper."""
    for name, sub in list(_SUBSCRIBERS.items()):
        _SUBSCRIBERS[name] = replace(sub, handler=wrap(sub), batch_handler=None)


def subscribers() -> dict[str, Subscriber]:
    return dict(sorted(_SUBSCRIBERS.items()))


def subscribers_for(event_type: str) -> list[Subscriber]:
    return [sub for sub in _SUBSCRIBERS.values() if sub.wants(event_type)]


def get_subscriber(name: str) -> Subscriber | None:
    return _SUBSCRIBERS.get(name)
