"""Accounting commands: posting to the journal, reimbursements and payout batches.

Posting is idempotent by source event (a unique ``source_event_id``), reimbursements by
expense (a unique ``expense_id``): a redelivered event finds its row and does nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from events.publishing import publish
from money.models import BankAccount
from organizations.models import Category, Membership, Organization, Role

from . import sepa
from .events import PaymentFileDownloaded, PayoutBatchConfirmed, ReimbursementFailed, ReimbursementPaid
from .models import (
    Account,
    AccountKind,
    JournalEntry,
    JournalLine,
    PayoutBatch,
    Reimbursement,
    ReimbursementState,
)


class UnbalancedEntry(ValidationFailed):
    code = "unbalanced_entry"


class BatchAlreadyConfirmed(Conflict):
    code = "batch_already_confirmed"


class InvalidReimbursementState(Conflict):
    code = "invalid_state"


# --- chart of accounts --------------------------------------------------------------------------

def ensure_chart_of_accounts(organization: Organization) -> None:
    """Create the organisation's accounts if missing: cash, payable, one expense account per category."""
    Account.objects.get_or_create(organization=organization, code=Account.CASH,
                                  defaults={"name": "Cash at bank", "kind": AccountKind.ASSET})
    Account.objects.get_or_create(organization=organization, code=Account.PAYABLE,
                                  defaults={"name": "Reimbursements payable", "kind": AccountKind.LIABILITY})
    for category_id in Category.objects.filter(organization=organization).values_list("pk", flat=True):
        expense_account_for(organization.pk, category_id)


def expense_account_for(organization_id: int, category_id: int) -> Account:
    """The category's expense account: one query once it exists; the category is read (in its
    organisation) only to create it."""
    account = Account.objects.filter(organization_id=organization_id, category_id=category_id).first()
    if account is None:
        category = Category.objects.get(pk=category_id, organization_id=organization_id)
        account, _ = Account.objects.get_or_create(
            organization_id=organization_id, code=f"6{category.pk:05d}",
            defaults={"name": f"Expenses: {category.name}", "kind": AccountKind.EXPENSE, "category": category})
    return account


def _account(organization_id: int, code: str) -> Account:
    # Hot path (every posting): one query once the chart exists; the chart (about a dozen queries)
    # is created only for an organisation that has none yet.
    account = Account.objects.filter(organization_id=organization_id, code=code).first()
    if account is not None:
        return account
    ensure_chart_of_accounts(Organization.objects.get(pk=organization_id))
    return Account.objects.get(organization_id=organization_id, code=code)


# --- journal ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Line:
    account: Account
    debit: Decimal = Decimal("0")
    credit: Decimal = Decimal("0")


def journal_post(*, organization_id: int, entry_date: date, memo: str, lines: Sequence[Line],
                 source_event_id: uuid.UUID | None = None, reversal_of: JournalEntry | None = None,
                 expense_id: uuid.UUID | None = None, original_amount: Decimal | None = None,
                 original_currency: str = "") -> JournalEntry | None:
    """Post a balanced entry. Returns None if an entry for ``source_event_id`` already exists.

    Refuses an unbalanced entry or one with fewer than two lines (``unbalanced_entry``);
    PostgreSQL refuses it as well, at commit. Runs in the caller's transaction when there is one,
    without a savepoint of its own (two round trips fewer on every posting): a duplicate that
    slipped past the check (only two deliveries of one event at once could) fails the caller's
    transaction on the unique source event, and the retry then finds the entry and returns None."""
    posted = journal_post_many(postings=[Posting(
        organization_id=organization_id, entry_date=entry_date, memo=memo, lines=lines,
        source_event_id=source_event_id, reversal_of=reversal_of, expense_id=expense_id,
        original_amount=original_amount, original_currency=original_currency)])
    return posted[0] if posted else None


@dataclass(frozen=True)
class Posting:
    """One entry to post: ``journal_post``'s arguments (``journal_post(**vars(posting))``)."""
    organization_id: int
    entry_date: date
    memo: str
    lines: Sequence[Line]
    source_event_id: uuid.UUID | None = None
    reversal_of: JournalEntry | None = None
    expense_id: uuid.UUID | None = None
    original_amount: Decimal | None = None
    original_currency: str = ""


def journal_post_many(*, postings: Sequence[Posting]) -> list[JournalEntry]:
    """Post balanced entries in the order given; return the new ones (``journal_post`` is the
    case of one): a posting whose source event already has an entry (or comes again later in the
    list) is left out. Three statements however many
    postings: one read of the source events already posted, one insert of the entries, one of
    their lines. The same transaction discipline as ``journal_post`` (no savepoint of its own: a
    duplicate that slipped past the read fails the caller's transaction on the unique source
    event), and PostgreSQL checks each entry's balance at commit as it does for one."""
    for posting in postings:
        _require_balanced(posting.lines)
    with transaction.atomic(savepoint=False):
        sources = [p.source_event_id for p in postings if p.source_event_id is not None]
        posted = set(JournalEntry.objects.filter(source_event_id__in=sources)
                     .values_list("source_event_id", flat=True)) if sources else set()
        entries: list[JournalEntry] = []
        lines: list[JournalLine] = []
        for p in postings:
            if p.source_event_id is not None:
                if p.source_event_id in posted:
                    continue
                posted.add(p.source_event_id)
            entry = JournalEntry(organization_id=p.organization_id, date=p.entry_date, memo=p.memo[:300],
                                 source_event_id=p.source_event_id, reversal_of=p.reversal_of,
                                 expense_id=p.expense_id,
                                 original_amount=p.original_amount, original_currency=p.original_currency)
            entries.append(entry)
            lines += [JournalLine(entry=entry, account=line.account, debit=line.debit, credit=line.credit)
                      for line in p.lines]
        if entries:
            JournalEntry.objects.bulk_create(entries)
            JournalLine.objects.bulk_create(lines)
    return entries


def _require_balanced(lines: Sequence[Line]) -> None:
    debits = sum((line.debit for line in lines), Decimal("0"))
    credit_total = sum((line.credit for line in lines), Decimal("0"))
    if len(lines) < 2 or debits != credit_total:
        raise UnbalancedEntry(f"An entry needs two or more lines and equal sides (debits {debits}, credits "
                              f"{credit_total}).")


@transaction.atomic
def journal_reverse(*, actor: Membership, entry_id: uuid.UUID, memo: str = "") -> JournalEntry:
    """Correct a posted entry by posting its mirror image (posted entries are never edited)."""
    _require_finance(actor)
    try:
        entry = JournalEntry.objects.get(pk=entry_id, organization_id=actor.organization_id)
    except (JournalEntry.DoesNotExist, DjangoValidationError, ValueError):
        raise NotFound("No such journal entry.") from None
    if JournalEntry.objects.filter(reversal_of=entry).exists():
        raise Conflict("This entry was already reversed.", code="already_reversed")
    lines = [Line(account=line.account, debit=line.credit, credit=line.debit) for line in entry.lines.all()]
    return journal_post(organization_id=entry.organization_id, entry_date=actor.organization.today(),
                        memo=memo or f"Reversal of: {entry.memo}", lines=lines, reversal_of=entry,
                        expense_id=entry.expense_id, original_amount=entry.original_amount,
                        original_currency=entry.original_currency)


def _booking_date(organization_id: int, moment: datetime) -> date:
    """The day ``moment`` fell on where the organisation is: an entry is booked on the day of
    what it records in the organisation's calendar, never the server's, and a delivery retried
    the next morning still books the day before."""
    return Organization.objects.only("time_zone").get(pk=organization_id).date_of(moment)


def post_approved_expense(*, event, event_id: uuid.UUID) -> JournalEntry | None:
    """Dr the category's expense account, Cr reimbursements payable (once per event), on the
    organisation's date of the approval."""
    expense_account = expense_account_for(event.organization_id, event.category_id)
    payable = _account(event.organization_id, Account.PAYABLE)
    return journal_post(**vars(_approved_expense_posting(
        event, event_id, expense_account=expense_account, payable=payable,
        entry_date=_booking_date(event.organization_id, event.approved_at))))


def post_approved_expenses(*, events: Sequence[tuple]) -> list[JournalEntry]:
    """``post_approved_expense`` for each (event, event id) in the order given, with the same
    entries, in five statements however many events (once the accounts exist): one read of their
    accounts, one of their organisations' time zones, then ``journal_post_many``'s three. An
    account still missing is created as one at a time would, in the events' order (the chart of
    an organisation that has none, a category's account on its first posting)."""
    if not events:
        return []
    organization_ids = {event.organization_id for event, _ in events}
    found = list(Account.objects.filter(Q(code=Account.PAYABLE) | Q(category_id__in={e.category_id for e, _ in events}),
                                        organization_id__in=organization_ids).order_by())
    expense_accounts = {(a.organization_id, a.category_id): a for a in found if a.category_id is not None}
    payables = {a.organization_id: a for a in found if a.code == Account.PAYABLE}
    for event, _ in events:  # the rare path, in the order (and with the queries) of one at a time
        key = (event.organization_id, event.category_id)
        if key not in expense_accounts:
            expense_accounts[key] = expense_account_for(*key)
        if event.organization_id not in payables:
            payables[event.organization_id] = _account(event.organization_id, Account.PAYABLE)
    # an organisation that does not exist raises here (KeyError), as one at a time raises DoesNotExist
    organizations = Organization.objects.only("time_zone").in_bulk(organization_ids)
    return journal_post_many(postings=[
        _approved_expense_posting(event, event_id,
                                  expense_account=expense_accounts[(event.organization_id, event.category_id)],
                                  payable=payables[event.organization_id],
                                  entry_date=organizations[event.organization_id].date_of(event.approved_at))
        for event, event_id in events])


def _approved_expense_posting(event, event_id: uuid.UUID, *, expense_account: Account, payable: Account,
                              entry_date: date) -> Posting:
    return Posting(organization_id=event.organization_id, entry_date=entry_date,
                   memo=f"Approved expense {event.merchant} ({event.employee_name})",
                   source_event_id=event_id, expense_id=event.expense_id, original_amount=event.amount,
                   original_currency=event.currency,
                   lines=[Line(expense_account, debit=event.booked_amount), Line(payable, credit=event.booked_amount)])


def post_reimbursement_paid(*, event, event_id: uuid.UUID, paid_at: datetime) -> JournalEntry | None:
    """Dr reimbursements payable, Cr cash at bank (once per event), on the organisation's date of
    ``paid_at`` (when the payment was confirmed: the event's time)."""
    payable = _account(event.organization_id, Account.PAYABLE)
    cash = _account(event.organization_id, Account.CASH)
    return journal_post(organization_id=event.organization_id,
                        entry_date=_booking_date(event.organization_id, paid_at),
                        memo=f"Reimbursement paid to {event.payee_name}", source_event_id=event_id,
                        expense_id=event.expense_id,
                        lines=[Line(payable, debit=event.amount), Line(cash, credit=event.amount)])


# --- reimbursements -----------------------------------------------------------------------------

def reimbursement_queue(*, event, event_id: uuid.UUID) -> Reimbursement | None:
    """Queue the reimbursement of an approved expense; None if it is already queued."""
    reimbursement = _queued_reimbursement(event, event_id)
    if Reimbursement.objects.filter(idempotency_key=reimbursement.idempotency_key).exists():
        return None
    # No savepoint: a duplicate that slips past the check fails the delivery on the unique key,
    # and its retry returns above.
    reimbursement.save(force_insert=True)
    return reimbursement


def reimbursement_queue_many(*, events: Sequence[tuple]) -> None:
    """``reimbursement_queue`` for each (event, event id) in the order given, in one statement:
    an insert that leaves out, through ON CONFLICT DO NOTHING on the unique idempotency key (and
    expense), every reimbursement already queued, by an earlier event in the list as well. A
    duplicate racing in from another transaction is waited for and left out, where one at a time
    fails on the key and finds the row on its retry."""
    Reimbursement.objects.bulk_create([_queued_reimbursement(event, event_id) for event, event_id in events],
                                      ignore_conflicts=True)


def _queued_reimbursement(event, event_id: uuid.UUID) -> Reimbursement:
    return Reimbursement(
        organization_id=event.organization_id, expense_id=event.expense_id,
        idempotency_key=f"reimburse-{event.expense_id}", employee_user_id=event.employee_user_id,
        payee_name=event.employee_name, payee_email=event.employee_email, amount=event.booked_amount,
        currency=event.booked_currency, merchant=event.merchant, incurred_on=event.incurred_on,
        source_event_id=event_id)


def _require_finance(actor: Membership) -> None:
    if actor.role not in (Role.FINANCE, Role.ADMIN):
        raise PermissionDenied("Only finance can do this.")


def _reimbursement_event(cls, r: Reimbursement, **extra):
    return cls(reimbursement_id=r.pk, expense_id=r.expense_id, organization_id=r.organization_id,
               employee_user_id=r.employee_user_id, payee_name=r.payee_name, amount=r.amount,
               currency=r.currency, merchant=r.merchant, incurred_on=r.incurred_on, **extra)


@transaction.atomic
def payout_run(*, organization: Organization) -> PayoutBatch | None:
    """Gather the queued reimbursements into a batch with its payment file; None if none are queued.

    Rows are taken ``FOR UPDATE SKIP LOCKED``, so two runs at once never batch one twice."""
    queued = list(Reimbursement.objects.select_for_update(skip_locked=True)
                  .filter(organization=organization, state=ReimbursementState.QUEUED).order_by("created_at"))
    if not queued:
        return None
    total = sum((r.amount for r in queued), Decimal("0"))
    batch = PayoutBatch.objects.create(organization=organization, total=total, currency=organization.currency,
                                       payment_file="")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["payee_name", "payee_email", "amount", "currency", "reference"])
    for r in queued:
        writer.writerow([_csv_safe(r.payee_name), _csv_safe(r.payee_email), f"{r.amount:.2f}", r.currency,
                         f"OUTLAY-{str(r.pk)[:8].upper()}"])
    batch.payment_file = buffer.getvalue()
    batch.payee_flags = _recent_bank_changes(organization, queued, batch.created_at)
    batch.save(update_fields=["payment_file", "payee_flags"])
    Reimbursement.objects.filter(pk__in=[r.pk for r in queued]).update(state=ReimbursementState.IN_BATCH, batch=batch)
    return batch


BANK_CHANGE_WINDOW = timezone.timedelta(hours=24)


def _recent_bank_changes(organization: Organization, queued: list[Reimbursement], at) -> list[dict]:
    """Payees whose bank details changed within 24 hours before the batch: a classic sign of
    payout fraud (someone redirects a colleague's money), so finance looks before paying."""
    changed = (BankAccount.objects.filter(membership__organization=organization,
                                          membership__user_id__in={r.employee_user_id for r in queued},
                                          updated_at__gte=at - BANK_CHANGE_WINDOW)
               .values_list("membership__user_id", "updated_at"))
    names = {r.employee_user_id: r.payee_name for r in queued}
    return [{"code": "bank_details_changed_recently", "employee_user_id": user_id, "payee_name": names[user_id],
             "changed_at": changed_at.isoformat(),
             "message": f"{names[user_id]}'s bank details changed at {changed_at:%Y-%m-%d %H:%M} UTC, within 24 "
                        "hours of this batch: confirm the change with them before paying."}
            for user_id, changed_at in sorted(changed, key=lambda c: names[c[0]])]


@dataclass(frozen=True)
class PaymentFile:
    content: bytes
    content_type: str
    filename: str
    held_out: list[dict]


@transaction.atomic
def payout_batch_file(*, actor: Membership, batch_id, file_format: str = "csv",
                      schema: str = sepa.DEFAULT_SCHEMA) -> PaymentFile:
    """The batch's payment file for the bank: ``csv`` (any bank) or ``sepa`` (pain.001, validated
    against the XSD; payees SEPA cannot pay are held out and listed). Finance only; every
    download is recorded (``payout_batch.file_downloaded`` with the file's SHA-256, audited)."""
    _require_finance(actor)
    try:
        batch = PayoutBatch.objects.select_related("organization").get(pk=batch_id,
                                                                       organization_id=actor.organization_id)
    except (PayoutBatch.DoesNotExist, DjangoValidationError, ValueError):
        raise NotFound("No such payout batch.") from None
    if file_format == "sepa":
        built = sepa.build(batch, schema=schema)
        held = [{"payee_name": p.name, "reason": p.held_out_reason} for p in built.held_out]
        result = PaymentFile(content=built.xml, content_type="application/xml",
                             filename=f"payout-{batch.pk}.{schema}.xml", held_out=held)
        payee_count = len(built.payees)
    else:
        result = PaymentFile(content=batch.payment_file.encode(), content_type="text/csv; charset=utf-8",
                             filename=f"payout-{batch.pk}.csv", held_out=[])
        payee_count = batch.reimbursements.count()
    publish(PaymentFileDownloaded(batch_id=batch.pk, organization_id=batch.organization_id,
                                  file_format=schema if file_format == "sepa" else "csv",
                                  sha256=hashlib.sha256(result.content).hexdigest(), payee_count=payee_count,
                                  held_out_count=len(result.held_out), downloaded_by_name=actor.display_name),
            organization_id=batch.organization_id, actor_id=actor.user_id)
    return result


def _csv_safe(value: str) -> str:
    """Neutralise spreadsheet formulas in names (CSV injection)."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _lock_batch(actor: Membership, batch_id) -> PayoutBatch:
    try:
        return PayoutBatch.objects.select_for_update().get(pk=batch_id, organization_id=actor.organization_id)
    except (PayoutBatch.DoesNotExist, DjangoValidationError, ValueError):
        raise NotFound("No such payout batch.") from None


@transaction.atomic
def payout_batch_confirm(*, actor: Membership, batch_id) -> PayoutBatch:
    """Finance confirms a batch paid: every reimbursement still in it becomes paid and publishes
    ``reimbursement.paid``; then ``payout_batch.confirmed``. A second confirm is refused."""
    _require_finance(actor)
    batch = _lock_batch(actor, batch_id)
    if batch.state == PayoutBatch.State.CONFIRMED:
        raise BatchAlreadyConfirmed("This payout batch was already confirmed as paid.")
    now = timezone.now()
    paid = list(batch.reimbursements.select_for_update().filter(state=ReimbursementState.IN_BATCH))
    for r in paid:
        r.state = ReimbursementState.PAID
        r.paid_at = now
        r.save(update_fields=["state", "paid_at"])
        publish(_reimbursement_event(ReimbursementPaid, r, batch_id=batch.pk),
                organization_id=batch.organization_id, actor_id=actor.user_id)
    batch.state = PayoutBatch.State.CONFIRMED
    batch.confirmed_at = now
    batch.confirmed_by_user_id = actor.user_id
    batch.save(update_fields=["state", "confirmed_at", "confirmed_by_user_id"])
    publish(PayoutBatchConfirmed(batch_id=batch.pk, organization_id=batch.organization_id,
                                 total=sum((r.amount for r in paid), Decimal("0")), currency=batch.currency,
                                 reimbursement_count=len(paid)),
            organization_id=batch.organization_id, actor_id=actor.user_id)
    return batch


@transaction.atomic
def reimbursement_mark_failed(*, actor: Membership, reimbursement_id, reason: str) -> Reimbursement:
    """A payment in an unconfirmed batch did not go through (reason required)."""
    _require_finance(actor)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Say why the payment failed.", code="reason_required")
    try:
        r = Reimbursement.objects.select_for_update().get(pk=reimbursement_id, organization_id=actor.organization_id)
    except (Reimbursement.DoesNotExist, DjangoValidationError, ValueError):
        raise NotFound("No such reimbursement.") from None
    if r.state != ReimbursementState.IN_BATCH:
        raise InvalidReimbursementState(f"Only a reimbursement in a batch can fail (this one is {r.state}).")
    r.state = ReimbursementState.FAILED
    r.failure_reason = reason
    r.save(update_fields=["state", "failure_reason"])
    publish(_reimbursement_event(ReimbursementFailed, r, batch_id=r.batch_id, reason=reason),
            organization_id=r.organization_id, actor_id=actor.user_id)
    return r


@transaction.atomic
def reimbursement_requeue(*, actor: Membership, reimbursement_id) -> Reimbursement:
    """Put a failed reimbursement back in the queue for the next payout run."""
    _require_finance(actor)
    try:
        r = Reimbursement.objects.select_for_update().get(pk=reimbursement_id, organization_id=actor.organization_id)
    except (Reimbursement.DoesNotExist, DjangoValidationError, ValueError):
        raise NotFound("No such reimbursement.") from None
    if r.state != ReimbursementState.FAILED:
        raise InvalidReimbursementState("Only a failed reimbursement can be queued again.")
    r.state = ReimbursementState.QUEUED
    r.batch = None
    r.save(update_fields=["state", "batch"])
    return r


def payout_runs_due(now=None) -> list[Organization]:
    """Organisations with queued reimbursements whose last batch is older than the payout interval."""
    from django.conf import settings

    now = now or timezone.now()
    cutoff = now - timezone.timedelta(seconds=settings.PAYOUT_RUN_SECONDS)
    due = []
    for org in Organization.objects.filter(reimbursements__state=ReimbursementState.QUEUED).distinct():
        last = PayoutBatch.objects.filter(organization=org).order_by("-created_at").values_list(
            "created_at", flat=True).first()
        if last is None or last <= cutoff:
            due.append(org)
    return due
