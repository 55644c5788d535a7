"""The one way anything leaves the process after a transaction: ``send_on_commit``.

A broker message, a live hint or an e-mail queued inside a transaction must go out only if
that transaction commits (a rolled-back approval must not announce itself), and a failure to
send must never turn a committed command into an error for its caller (the outbox rows, or
the mail rows, wait for the sweeper). Zulip's ``send_event_on_commit`` and Saleor's
``call_event`` have the same shape.

A function that sends *at once* is named so that it warns: ``..._rollback_unsafe`` (Zulip's
``send_event_rollback_unsafe``). Call one directly only where no transaction of the caller can
still roll back: a worker after its own commit, a fan-out task, a sweep.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)


def send_on_commit(send_rollback_unsafe: Callable[..., Any], *args: Any, using: str | None = None) -> None:
    """Call ``send_rollback_unsafe(*args)`` once the current transaction commits; never if it
    rolls back; at once in autocommit (there is nothing to wait for). An exception is logged
    with what was being sent and never raised: sends are best effort, their rows are the truth."""
    transaction.on_commit(functools.partial(_send_logged, send_rollback_unsafe, args), using=using)


def _send_logged(send: Callable[..., Any], args: tuple) -> None:
    try:
        send(*args)
    except Exception:
        logger.exception("after-commit send %s failed", getattr(send, "__qualname__", send))
