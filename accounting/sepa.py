"""SEPA credit-transfer files (pain.001) for a payout batch, built with sepaxml and validated
against the official XSD it ships, every time.

One transaction per payee (their reimbursements in the batch added up), the expense references
in the remittance information. The file is a function of the batch alone: the message id, the
creation time, the payment-information id and each end-to-end id are derived from the batch and
its reimbursements, so generating it again gives the same bytes. Payees who cannot be paid by
SEPA (no bank details, a currency other than EUR) are held out with the reason, never dropped.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET  # only serialises our own tree; parsing goes through defusedxml
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from defusedxml import ElementTree as SafeElementTree
from sepaxml import SepaTransfer
from sepaxml.validation import ValidationError as SepaValidationError
from sepaxml.validation import try_valid_xml

from core.errors import Conflict, ValidationFailed
from money.models import BankAccount
from organizations.models import Organization

from .models import PayoutBatch, Reimbursement, ReimbursementState

SCHEMAS = ("pain.001.001.03", "pain.001.001.09")  # .03: every SEPA bank; .09: the current rulebook version
DEFAULT_SCHEMA = SCHEMAS[0]
SEPA_CURRENCY = "EUR"


class DebtorAccountMissing(Conflict):
    code = "debtor_account_missing"


class InvalidSchema(ValidationFailed):
    code = "invalid_schema"


class SepaFileInvalid(Conflict):
    code = "sepa_file_invalid"


@dataclass(frozen=True)
class Payee:
    employee_user_id: int
    name: str
    reimbursements: list[Reimbursement]
    amount: Decimal
    currency: str
    bank: BankAccount | None
    held_out_reason: str = ""

    @property
    def end_to_end_id(self) -> str:
        """Stable per set of reimbursements: a re-generated file carries the same ids."""
        digest = hashlib.sha256(",".join(sorted(str(r.pk) for r in self.reimbursements)).encode()).hexdigest()
        return f"OUTLAY-{digest[:28].upper()}"

    @property
    def remittance(self) -> str:
        refs = [f"EXP-{str(r.expense_id)[:8].upper()}" for r in self.reimbursements]
        text = "Outlay expenses " + " ".join(refs)
        return text if len(text) <= 140 else text[:126].rsplit(" ", 1)[0] + f" +{len(refs)} total"


@dataclass
class SepaFile:
    xml: bytes
    schema: str
    payees: list[Payee] = field(default_factory=list)
    held_out: list[Payee] = field(default_factory=list)

    @property
    def control_sum(self) -> Decimal:
        return sum((p.amount for p in self.payees), Decimal("0"))


def payees(batch: PayoutBatch) -> list[Payee]:
    """The batch's payees (reimbursements still in the batch, grouped by employee), each with the
    reason it is held out of a SEPA file, if any."""
    grouped: dict[int, list[Reimbursement]] = defaultdict(list)
    for r in batch.reimbursements.exclude(state=ReimbursementState.FAILED).order_by("created_at", "id"):
        grouped[r.employee_user_id].append(r)
    accounts = {a.membership.user_id: a for a in BankAccount.objects.select_related("membership")
                .filter(membership__user_id__in=list(grouped), membership__organization_id=batch.organization_id)}
    result = []
    for user_id, items in sorted(grouped.items(), key=lambda kv: (kv[1][0].payee_name, kv[0])):
        currencies = {r.currency for r in items}
        bank = accounts.get(user_id)
        reason = ""
        if currencies != {SEPA_CURRENCY}:
            reason = f"SEPA pays euros only; this payout is in {', '.join(sorted(currencies))}."
        elif bank is None:
            reason = "No bank details: the employee or finance must enter an IBAN."
        result.append(Payee(employee_user_id=user_id, name=items[0].payee_name, reimbursements=items,
                            amount=sum((r.amount for r in items), Decimal("0")), currency=items[0].currency,
                            bank=bank, held_out_reason=reason))
    return result


def held_out(batch: PayoutBatch) -> list[dict]:
    """What a SEPA file of the batch leaves out and why (for the page and the API)."""
    return [{"payee_name": p.name, "employee_user_id": p.employee_user_id, "amount": p.amount,
             "currency": p.currency, "reason": p.held_out_reason} for p in payees(batch) if p.held_out_reason]


def build(batch: PayoutBatch, *, schema: str = DEFAULT_SCHEMA) -> SepaFile:
    """The batch's pain.001 file, validated against the XSD. Refuses a schema we do not offer,
    an organisation without its own account (``debtor_account_missing``), and a batch with no
    payee SEPA can pay. A file the XSD rejects is never handed out (``sepa_file_invalid``)."""
    if schema not in SCHEMAS:
        raise InvalidSchema(f"Choose one of {', '.join(SCHEMAS)}.", details={"schemas": list(SCHEMAS)})
    org = Organization.objects.get(pk=batch.organization_id)  # its account as it is now
    if not (org.debtor_name and org.debtor_iban):
        raise DebtorAccountMissing("Set the organisation's own account (name, IBAN) before making a SEPA file.")
    everyone = payees(batch)
    payable = [p for p in everyone if not p.held_out_reason]
    if not payable:
        raise DebtorAccountMissing("No payee of this batch can be paid by SEPA.", code="nothing_to_pay",
                                   details={"held_out": len(everyone)})
    config = {"name": org.debtor_name, "IBAN": org.debtor_iban, "batch": True, "currency": SEPA_CURRENCY}
    if org.debtor_bic:
        config["BIC"] = org.debtor_bic
    transfer = SepaTransfer(config, schema=schema, clean=True)
    execution_date = batch.created_at.date()
    for payee in payable:
        payment = {"name": payee.bank.holder, "IBAN": payee.bank.iban, "amount": int(payee.amount * 100),
                   "execution_date": execution_date, "description": payee.remittance,
                   "endtoend_id": payee.end_to_end_id}
        if payee.bank.bic:
            payment["BIC"] = payee.bank.bic
        transfer.add_payment(payment)
    xml = _stable(transfer.export(validate=False), batch)
    try:
        try_valid_xml(xml, schema)
    except SepaValidationError as exc:
        raise SepaFileInvalid("The SEPA file does not validate against the XSD; it was not produced.",
                              details={"schema": schema, "error": str(exc.__cause__)[:300]}) from None
    return SepaFile(xml=xml, schema=schema, payees=payable, held_out=[p for p in everyone if p.held_out_reason])


def _stable(xml: bytes, batch: PayoutBatch) -> bytes:
    """Replace sepaxml's random ids and the wall-clock creation time by ones derived from the batch."""
    root = SafeElementTree.fromstring(xml)
    ns = {"p": root.tag.split("}")[0].strip("{")}
    message_id = f"OUTLAY-{batch.pk.hex[:28].upper()}"
    root.find(".//p:GrpHdr/p:MsgId", ns).text = message_id
    root.find(".//p:GrpHdr/p:CreDtTm", ns).text = batch.created_at.strftime("%Y-%m-%dT%H:%M:%S")
    for index, info in enumerate(root.findall(".//p:PmtInf/p:PmtInfId", ns), start=1):
        info.text = f"{message_id[:31]}-P{index}"
    ET.register_namespace("", ns["p"])
    ET.register_namespace("xsi", "http://www.w3.org/2001/XMLSchema-instance")
    return b'<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(root, encoding="utf-8")

