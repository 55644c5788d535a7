"""The events the access app publishes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import ClassVar

from events.types import DomainEvent


@dataclass(frozen=True, kw_only=True)
class AccountLockedOut(DomainEvent):
    """An account reached the failed log-in limit and is locked until ``locked_until``.

    Published once per lock-out (attempts during it are refused and not counted), whichever way
    in the failures came through (``path``: the web log-in, the admin log-in or the token API)."""

    type: ClassVar[str] = "account.locked_out"
    version: ClassVar[int] = 1
    aggregate_type: ClassVar[str] = "user"
    aggregate_field: ClassVar[str] = "user_id"

    user_id: int
    username: str
    ip_address: str
    path: str
    failures: int
    locked_until: dt.datetime
