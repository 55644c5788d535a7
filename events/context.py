"""Who and what started the current chain of work: correlation, causation and request origin.

Set by the request middleware (``X-Request-ID``) and by the delivery task (the event being
handled), read by ``publish()`` and by the log filter.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TraceContext:
    correlation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    causation_id: uuid.UUID | None = None
    origin: dict = field(default_factory=dict)  # ip, user_agent of the request, when there was one
    delivery_id: int | None = None


_current: contextvars.ContextVar[TraceContext | None] = contextvars.ContextVar("outlay_trace", default=None)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def clean_request_id(value: str | None) -> str:
    """A caller's X-Request-ID if it is safe to log and store, else a new UUID."""
    if value and _REQUEST_ID.match(value):
        return value
    return str(uuid.uuid4())


def current() -> TraceContext | None:
    return _current.get()


@contextlib.contextmanager
def tracing(ctx: TraceContext) -> Iterator[TraceContext]:
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
