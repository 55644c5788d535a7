"""The one way anything leaves the process after a transaction: ``send_on_commit``.

A broker message, a live hint or an e-mail queued inside a transaction must go out only if
that transaction commits (a rolled-back approval must not announce itself), and a failure to
send must never turn a committed command into an error for its caller (the outbox rows, or
the mail rows, wait for the sweeper). Zulip's ``send_event_on_commit`` and Saleor's
``call_event`` have the same shape.

A function that sends *at once* is named so that it warns: ``..._rollback_unsafe`` (Zulip's
``send_event_rollback_unsafe``). Call one directly only where no transaction of the caller can
still roll back: a worker after its own commit, a fan-out task, a sweep.

In a request served by the web server (``config.asgi_handler``) what commits inside the
request is sent once its response has gone to the client (``sends_after_the_response``): the
caller's wait is its own command, not the broker's round trip (issue 24). Nothing is lost by
the wait: the rows are committed, and a process that dies before sending leaves them to the
sweeper, exactly as a broker outage does.
"""

from __future__ import annotations

import contextvars
import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)

# The sends of the current web request, held until its response is sent (None: send at commit).
_held: contextvars.ContextVar[list[tuple[Callable[..., Any], tuple]] | None] = contextvars.ContextVar(
    "outlay_sends_after_the_response", default=None)


def send_on_commit(send_rollback_unsafe: Callable[..., Any], *args: Any, using: str | None = None) -> None:
    """Call ``send_rollback_unsafe(*args)`` once the current transaction commits; never if it
    rolls back; at once in autocommit (there is nothing to wait for). An exception is logged
    with what was being sent and never raised: sends are best effort, their rows are the truth."""
    transaction.on_commit(functools.partial(_send_logged, send_rollback_unsafe, args), using=using)


def _send_logged(send: Callable[..., Any], args: tuple) -> None:
    held = _held.get()
    if held is not None:
        held.append((send, args))
        return
    _send_now(send, args)


def _send_now(send: Callable[..., Any], args: tuple) -> None:
    try:
        send(*args)
    except Exception:
        logger.exception("after-commit send %s failed", getattr(send, "__qualname__", send))


@contextmanager
def sends_after_the_response() -> Iterator[Callable[[], None]]:
    """Within the block, what commits is not sent at its commit but held; the block gives the
    function that sends what it holds, in commit order, each as ``send_on_commit`` would (logged,
    never raised). The web server's handler calls it once the response is sent; nothing else
    should hold sends (a worker's sends are its own work, not someone's wait)."""
    held: list[tuple[Callable[..., Any], tuple]] = []
    token = _held.set(held)

    def send_held() -> None:
        sending, held[:] = list(held), []
        for send, args in sending:
            _send_now(send, args)

    try:
        yield send_held
    finally:
        _held.reset(token)
