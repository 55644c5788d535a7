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


def _locked_heads(organization_ids: list[int]) -> dict[int, AuditChainHead]:
    """The organisations' chain heads, locked FOR UPDATE in organisation order (two workers that
    lock the same heads queue up instead of deadlocking); one query once the chains exist."""
    wanted = sorted(set(organization_ids))

    def lock() -> dict[int, AuditChainHead]:
        rows = AuditChainHead.objects.select_for_update().filter(organization_id__in=wanted).order_by("organization_id")
        return {head.organization_id: head for head in rows}

    heads = lock()
    if len(heads) < len(wanted):
        for organization_id in wanted:
            if organization_id not in heads:
                AuditChainHead.objects.get_or_create(organization_id=organization_id)
        heads = lock()
    return heads


def audit_append(*, event, envelope) -> AuditEntry | None:
    """Record one event at the tip of its organisation's chain; None if it is already recorded.

    The chain head is locked FOR UPDATE, so concurrent appends (two workers) queue up and the
    chain never forks; ``event_id`` is unique, so a redelivered event is not recorded twice."""
    entries = audit_append_many(events=[(event, envelope)])
    return entries[0] if entries else None


def audit_append_many(*, events: list[tuple]) -> list[AuditEntry]:
    """Record (event, envelope) pairs at the tips of their organisations' chains, in the order
    given; return the new entries. Events already recorded are left out (a redelivery records
    nothing twice). However many events: one statement locks the heads, one looks for events
    already recorded, one inserts the entries and one moves the heads, so a batch of deliveries
    costs what one costs, and the chain is exactly what appending them one by one would make."""
    if not events:
        return []
    heads = _locked_heads([envelope.organization_id for _, envelope in events])
    # Under the head locks every append of these organisations waits its turn, so this cannot race.
    recorded = set(AuditEntry.objects.filter(event_id__in=[envelope.event_id for _, envelope in events])
                   .values_list("event_id", flat=True))
    entries = []
    for event, envelope in events:
        if envelope.event_id in recorded:
            continue
        recorded.add(envelope.event_id)
        head = heads[envelope.organization_id]
        entry = _entry(event, envelope, sequence=head.last_sequence + 1, prev_hash=head.last_hash)
        head.last_sequence, head.last_hash = entry.sequence, entry.hash
        entries.append(entry)
    if entries:
        AuditEntry.objects.bulk_create(entries)
        AuditChainHead.objects.bulk_update([heads[o] for o in sorted({e.organization_id for e in entries})],
                                           ["last_sequence", "last_hash"])
    return entries


def _entry(event, envelope, *, sequence: int, prev_hash: str) -> AuditEntry:
    origin = envelope.origin or {}
    entry = AuditEntry(
        organization_id=envelope.organization_id, sequence=sequence,
        occurred_at=envelope.occurred_at, actor_id=envelope.actor_id, actor_label=envelope.actor_label,
        on_behalf_of_user_id=getattr(event, "on_behalf_of_user_id", None), action=envelope.type,
        object_type=envelope.aggregate_type, object_id=envelope.aggregate_id, event_id=envelope.event_id,
        correlation_id=envelope.correlation_id, payload=event.to_payload(),
        origin_ip=str(origin.get("ip", ""))[:64], user_agent=str(origin.get("user_agent", ""))[:300],
        prev_hash=prev_hash,
    )
    # Store the payload exactly as it reads back from the database (JSON round trip) so the hash
    # verifies later.
    entry.payload = json.loads(json.dumps(entry.payload))
    entry.hash = entry_hash(prev_hash, entry)
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
