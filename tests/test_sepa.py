"""SEPA payout files: pain.001 validated against the XSD sepaxml ships, sums and counts of the
batch, payees without bank details held out with the reason, the same file every time."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import sepaxml
import xmlschema
from defusedxml import ElementTree
from rest_framework.test import APIClient

from accounting import sepa
from accounting import services as accounting
from accounting.models import Reimbursement
from events.models import Event
from expenses import services as expense_services
from expenses.tests.factories import make_team
from money import services as money
from organizations.tests.factories import MembershipFactory
from tests.support.deliveries import run_deliveries

pytestmark = pytest.mark.django_db

XSD_DIR = Path(sepaxml.__file__).parent / "schemas"
EMPLOYEE_IBAN = "DE89370400440532013000"
COLLEAGUE_IBAN = "FR1420041010050500013M02606"


def _batch(with_colleague_iban=True, third_without=True):
    team = make_team()
    money.debtor_account_set(actor=team.finance, name="Acme GmbH", iban="DE02120300000000202051",
                             bic="BYLADEM1001")
    money.bank_details_set(actor=team.employee, membership_id=team.employee.pk, holder="Eve Müller",
                           iban=EMPLOYEE_IBAN)
    if with_colleague_iban:
        money.bank_details_set(actor=team.finance, membership_id=team.colleague.pk, holder="Ed Colleague",
                               iban=COLLEAGUE_IBAN)
    claims = [(team.employee, "12.50"), (team.employee, "100.00"), (team.colleague, "7.25")]
    if third_without:
        claims.append((MembershipFactory(organization=team.org, reports_to=team.manager), "40.00"))
    for member, amount in claims:
        expense = team.expense(employee=member, amount=amount, submit=True)
        expense_services.expense_approve(actor=team.manager, expense_id=expense.pk)
    run_deliveries()
    return team, accounting.payout_run(organization=team.org)


def _ns(root):
    return {"p": root.tag.split("}")[0].strip("{")}


@pytest.mark.parametrize("schema", sepa.SCHEMAS)
def test_the_pain001_file_validates_against_the_xsd_and_matches_the_batch(schema):
    team, batch = _batch()
    built = sepa.build(batch, schema=schema)
    xmlschema.XMLSchema(str(XSD_DIR / f"{schema}.xsd")).validate(built.xml.decode())
    root = ElementTree.fromstring(built.xml)
    ns = _ns(root)
    assert root.tag == f"{{urn:iso:std:iso:20022:tech:xsd:{schema}}}Document"
    assert root.find(".//p:GrpHdr/p:NbOfTxs", ns).text == "2"  # one transaction per payee
    assert Decimal(root.find(".//p:GrpHdr/p:CtrlSum", ns).text) == Decimal("119.75")
    amounts = sorted(Decimal(a.text) for a in root.findall(".//p:CdtTrfTxInf/p:Amt/p:InstdAmt", ns))
    assert amounts == [Decimal("7.25"), Decimal("112.50")]
    assert batch.total == Decimal("159.75")  # the held-out payee's 40.00 is in the batch, not the file
    ibans = {i.text for i in root.findall(".//p:CdtrAcct/p:Id/p:IBAN", ns)}
    assert ibans == {EMPLOYEE_IBAN, COLLEAGUE_IBAN}
    assert root.find(".//p:DbtrAcct/p:Id/p:IBAN", ns).text == "DE02120300000000202051"
    remittance = [u.text for u in root.findall(".//p:RmtInf/p:Ustrd", ns)]
    eve = Reimbursement.objects.filter(batch=batch, employee_user_id=team.employee.user_id)
    assert any(all(f"EXP-{str(r.expense_id)[:8].upper()}" in text for r in eve) for text in remittance)


def test_a_payee_without_bank_details_is_held_out_with_the_reason():
    _team, batch = _batch()
    built = sepa.build(batch)
    assert [(p.amount, p.held_out_reason) for p in built.held_out] == [
        (Decimal("40.00"), "No bank details: the employee or finance must enter an IBAN.")]
    assert [h["reason"] for h in sepa.held_out(batch)] == [built.held_out[0].held_out_reason]


def test_generating_twice_gives_the_same_file_with_stable_end_to_end_ids():
    _team, batch = _batch()
    first, second = sepa.build(batch).xml, sepa.build(batch).xml
    assert first == second
    root = ElementTree.fromstring(first)
    ids = [e.text for e in root.findall(".//p:PmtId/p:EndToEndId", _ns(root))]
    assert len(set(ids)) == 2 and all(i.startswith("OUTLAY-") and len(i) <= 35 for i in ids)


def test_no_sepa_file_without_the_organisations_own_account():
    team, batch = _batch()
    money.debtor_account_set(actor=team.finance, name="", iban="", bic="")
    batch.organization.refresh_from_db()
    with pytest.raises(sepa.DebtorAccountMissing):
        sepa.build(batch)


def test_the_api_serves_the_file_and_audits_the_download():
    team, batch = _batch()
    client = APIClient()
    client.force_authenticate(team.finance.user)
    response = client.get(f"/api/v1/payout-batches/{batch.pk}/sepa/")
    assert response.status_code == 200 and response["Content-Type"] == "application/xml"
    assert response["X-Held-Out-Count"] == "1"
    assert response.content == sepa.build(batch).xml
    downloads = Event.objects.filter(type="payout_batch.file_downloaded")
    assert [d.payload["file_format"] for d in downloads] == ["pain.001.001.03"]
    listed = client.get("/api/v1/payout-batches/").json()["results"][0]
    assert listed["sepa_held_out"][0]["reason"].startswith("No bank details")
    assert {f["employee_user_id"] for f in listed["payee_flags"]} == {team.employee.user_id,
                                                                        team.colleague.user_id}
    assert client.get(f"/api/v1/payout-batches/{batch.pk}/sepa/?version=pain.001.001.02").status_code == 400
    client.force_authenticate(team.employee.user)
    assert client.get(f"/api/v1/payout-batches/{batch.pk}/sepa/").status_code == 403
    assert downloads.count() == 1
    assert client.get(f"/api/v1/payout-batches/{batch.pk}/file/").status_code == 403


def test_confirming_a_sepa_batch_still_publishes_reimbursement_paid():
    team, batch = _batch(third_without=False)
    accounting.payout_batch_confirm(actor=team.finance, batch_id=batch.pk)
    assert Event.objects.filter(type="reimbursement.paid").count() == 3
