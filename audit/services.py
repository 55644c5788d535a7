"""Appending to and verifying the hash chain.

``hash = sha256(prev_hash + canonical JSON of the entry)``: changing any recorded field, or
removing an entry, breaks every later link, and ``verify_chain`` names the first broken one.
Removing entries at the *tail* breaks no link, so ``verify_chain`` also holds the chain's last
entry against ``AuditChainHead``, which every append updates in the same transaction.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from .models import AuditChainHead, AuditEntry

GENESIS = "0" * 64
HASHED_FIELDS = ("organization_id", "sequence", "occurred_at", "actor_id", "actor_label", "on_behalf_of_user_id",
                 "action", "object_type", "object_id", "event_id", "correlation_id", "payload", "origin_ip",
                 "user_agent")


def canonical(entry: AuditEntry) -> str:
    values = {}
    for field in HASHED_FIELDS:
        value = getattr(entry, field)
        if field == "occurred_at":
            value = value.isoformat()
        elif field == "event_id":
            value = str(value)
        values[field] = value
    return json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)


def entry_hash(prev_hash: str, entry: AuditEntry) -> str:
    return hashlib.sha256((prev_hash + canonical(entry)).encode()).hexdigest()


def _locked_head(organization_id: int) -> AuditChainHead:
    """The organisation's chain head, locked FOR UPDATE (one query once the chain exists)."""
    head = AuditChainHead.objects.select_for_update().filter(organization_id=organization_id).first()
    if head is None:
        AuditChainHead.objects.get_or_create(organization_id=organization_id)
        head = AuditChainHead.objects.select_for_update().get(organization_id=organization_id)
    return head


def audit_append(*, event, envelope) -> AuditEntry | None:
    """Record one event at the tip of its organisation's chain; None if it is already recorded.

    The chain head is locked FOR UPDATE, so concurrent appends (two workers) queue up and the
    chain never forks; ``event_id`` is unique, so a redelivered event is not recorded twice."""
    head = _locked_head(envelope.organization_id)
    # Under the head lock every append of the organisation waits its turn, so this check cannot race.
    if AuditEntry.objects.filter(event_id=envelope.event_id).exists():
        return None
    origin = envelope.origin or {}
    entry = AuditEntry(
        organization_id=envelope.organization_id, sequence=head.last_sequence + 1,
        occurred_at=envelope.occurred_at, actor_id=envelope.actor_id, actor_label=envelope.actor_label,
        on_behalf_of_user_id=getattr(event, "on_behalf_of_user_id", None), action=envelope.type,
        object_type=envelope.aggregate_type, object_id=envelope.aggregate_id, event_id=envelope.event_id,
        correlation_id=envelope.correlation_id, payload=event.to_payload(),
        origin_ip=str(origin.get("ip", ""))[:64], user_agent=str(origin.get("user_agent", ""))[:300],
        prev_hash=head.last_hash,
    )
    # Store the payload exactly as it reads back from the database (JSON round trip) so the hash
    # verifies later.
    entry.payload = json.loads(json.dumps(entry.payload))
    entry.hash = entry_hash(head.last_hash, entry)
    entry.save(force_insert=True)
    head.last_sequence = entry.sequence
    head.last_hash = entry.hash
    head.save(update_fields=["last_sequence", "last_hash"])
    return entry


@dataclass(frozen=True)
class ChainReport:
    organization_id: int
    entries: int
    broken_at: int | None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify_chain(organization_id: int) -> ChainReport:
    """Recompute the organisation's chain; report the first entry whose link does not hold, or
    entries missing at the tail (the chain ends before the sequence and hash its head records).

    The head is read first: every entry up to its ``last_sequence`` committed with it, so a
    concurrent append (a newer head, newer entries) cannot be mistaken for a missing tail."""
    head = AuditChainHead.objects.filter(organization_id=organization_id).first()
    prev = GENESIS
    expected_sequence = 1
    count = 0
    head_seen = head is None or head.last_sequence == 0
    for entry in AuditEntry.objects.filter(organization_id=organization_id).order_by("sequence").iterator():
        count += 1
        if entry.sequence != expected_sequence:
            return ChainReport(organization_id, count, entry.sequence,
                               f"sequence {expected_sequence} is missing (found {entry.sequence})")
        if entry.prev_hash != prev:
            return ChainReport(organization_id, count, entry.sequence, "prev_hash does not match the previous entry")
        if entry_hash(prev, entry) != entry.hash:
            return ChainReport(organization_id, count, entry.sequence, "content does not match its hash")
        if head is not None and entry.sequence == head.last_sequence:
            if entry.hash != head.last_hash:
                return ChainReport(organization_id, count, entry.sequence,
                                   "the entry's hash differs from the one the chain head records")
            head_seen = True
        prev = entry.hash
        expected_sequence += 1
    if head is None and count:
        return ChainReport(organization_id, count, 1, "the chain head is missing")
    if not head_seen:
        return ChainReport(organization_id, count, expected_sequence,
                           f"entries #{expected_sequence} to #{head.last_sequence} are missing at the tail "
                           f"(the chain head records #{head.last_sequence})")
    return ChainReport(organization_id, count, None)
