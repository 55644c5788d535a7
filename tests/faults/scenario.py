"""The fault runs' organisation and their exact checks, shared by every run that injects faults
(the fault suite, `make run`'s supervision test, the cluster harness), so they all prove the same
thing the same way.

In a process where Django is set up: ``create(approvals)`` and ``check(org_id, ...)``. From any
other process (the supervision test, the cluster harness's control host), against the database
named by ``DATABASE_URL``:

    python -m tests.faults.scenario create --approvals 60     # prints {"org_id", "token", "paths"}
    python -m tests.faults.scenario check --org-id 7          # prints the report; exit 0 if all hold
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Scenario:
    org_id: int
    token: str
    paths: list[str]  # one approve path per submitted expense


def create(approvals: int, slug: str = "faults") -> Scenario:
    """An organisation with ``approvals`` submitted expenses of 10.00 each, an admin who may approve
    them all, and budgets that fit about 80% of them: the budget check must refuse the rest exactly."""
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from rest_framework.authtoken.models import Token

    from expenses.models import Expense
    from organizations.models import Category, CostCenter, Membership, Organization, Role

    with transaction.atomic():
        org = Organization.objects.create(name=slug.title(), slug=slug, currency="EUR",
                                          second_approval_threshold=Decimal("100000"),
                                          receipt_required_threshold=Decimal("100000"))
        User = get_user_model()
        # No passwords: the run uses a token, and hashing eleven of them takes seconds on a busy machine.
        admin = Membership.objects.create(user=User.objects.create_user(f"{slug}-admin", password=None),
                                          organization=org, role=Role.ADMIN)
        employees = [Membership.objects.create(user=User.objects.create_user(
            f"{slug}-e{i}", password=None, email=f"e{i}@example.com"),
            organization=org, role=Role.EMPLOYEE, reports_to=admin) for i in range(10)]
        per_cc = Decimal("10.00") * approvals * Decimal("0.8") / 5
        cost_centers = [CostCenter.objects.create(organization=org, code=f"CC{i}", name=f"CC{i}",
                                                  monthly_budget=per_cc.quantize(Decimal("0.01")))
                        for i in range(5)]
        category = Category.objects.create(organization=org, code="travel", name="Travel")
        today = org.today()
        now = dt.datetime.now(dt.UTC)
        rows = [Expense(organization=org, employee=employees[i % 10], cost_center=cost_centers[i % 5],
                        category=category, amount=Decimal("10.00"), currency=org.currency,
                        org_amount=Decimal("10.00"), org_currency=org.currency, rate_date=today,
                        merchant="fault", incurred_on=today, state="submitted", submitted_at=now)
                for i in range(approvals)]
        Expense.objects.bulk_create(rows, batch_size=2000)
        token = Token.objects.create(user=admin.user).key
    return Scenario(org.pk, token, [f"/api/v1/expenses/{e.pk}/approve/" for e in rows])


def check(org_id: int, *, dead_before_replay: dict[str, int] | None = None,
          may_die: frozenset[str] = frozenset({"faults.flaky"})) -> tuple[dict, dict[str, bool]]:
    """The exact invariants after a run has drained: one event, journal entry, reimbursement, audit
    entry and notification per approval; nothing pending, in flight or dead; the trial balance
    nets to zero; the read model equals the write model; the audit chain verifies; no budget
    overspent. Returns (figures, checks)."""
    from django.core.management import call_command
    from django.db.models import Count, Q, Sum

    from accounting.models import JournalEntry, Reimbursement
    from accounting.queries import trial_balance
    from audit.models import AuditEntry
    from audit.services import verify_chain
    from events.models import Delivery, Event
    from expenses.models import Expense, MonthlySpend
    from notifications.models import Notification
    from organizations.models import CostCenter

    dead_before_replay = dead_before_replay or {}
    approved = Expense.objects.filter(organization_id=org_id, state="approved")
    approved_events = Event.objects.filter(type="expense.approved", organization_id=org_id)
    per_expense = approved_events.values("aggregate_id").annotate(n=Count("id"))
    deliveries = Delivery.objects.filter(organization_id=org_id)
    rows = trial_balance(org_id)
    figures = {
        "deliveries_total": deliveries.count(),
        "expenses_approved": approved.count(),
        "expense_approved_events": approved_events.count(),
        "events_per_approved_expense_max": max((r["n"] for r in per_expense), default=0),
        "journal_entries_for_approvals": JournalEntry.objects.filter(
            source_event_id__in=approved_events.values("id")).count(),
        "reimbursements": Reimbursement.objects.filter(organization_id=org_id).count(),
        "audit_entries": AuditEntry.objects.filter(organization_id=org_id).count(),
        "events_total": Event.objects.filter(organization_id=org_id).count(),
        "approved_notifications": Notification.objects.filter(organization_id=org_id,
                                                              kind="expense_approved").count(),
        "deliveries_not_done": deliveries.exclude(status="done").count(),
        "deliveries_not_done_by_subscriber": dict(deliveries.exclude(status="done").values_list(
            "subscriber").annotate(n=Count("id")).order_by("subscriber")),
        "dead_before_replay": dead_before_replay,
        "trial_balance_debits": str(sum(r.debit for r in rows)),
        "trial_balance_credits": str(sum(r.credit for r in rows)),
        "audit_chain_ok": verify_chain(org_id).ok,
    }
    overspent = []
    for cc in CostCenter.objects.filter(organization_id=org_id):
        total = approved.filter(cost_center=cc).aggregate(t=Sum("amount"))["t"] or Decimal("0")
        if total > cc.monthly_budget:
            overspent.append(cc.code)
    figures["cost_centres_overspent"] = overspent
    write = {(r["cost_center_id"], r["category_id"]): (r["a"], r["t"] or Decimal("0")) for r in
             Expense.objects.filter(organization_id=org_id).values("cost_center_id", "category_id").annotate(
                 a=Count("id", filter=Q(state="approved")), t=Sum("amount", filter=Q(state="approved")))}
    read = {(m.cost_center_id, m.category_id): (m.approved_count, m.approved_total) for m in
            MonthlySpend.objects.filter(organization_id=org_id)}
    figures["read_model_equals_write_model"] = {k: v for k, v in write.items() if v[0]} == {
        k: v for k, v in read.items() if v[0]}
    call_command("verify_audit", "--organisation", str(org_id))
    checks = {
        "one expense.approved per approved expense": figures["expense_approved_events"] == figures[
            "expenses_approved"] and figures["events_per_approved_expense_max"] <= 1,
        "one journal entry per approval": figures["journal_entries_for_approvals"] == figures["expenses_approved"],
        "one reimbursement per approval": figures["reimbursements"] == figures["expenses_approved"],
        "one audit entry per event": figures["audit_entries"] == figures["events_total"],
        "one approved notification per approval": figures["approved_notifications"] == figures["expenses_approved"],
        "nothing pending, in flight or dead after replay": figures["deliveries_not_done"] == 0,
        "dead letters only of the failing subscriber": set(dead_before_replay) <= may_die,
        "trial balance nets to zero": figures["trial_balance_debits"] == figures["trial_balance_credits"],
        "read model equals write model": figures["read_model_equals_write_model"],
        "audit chain verifies": figures["audit_chain_ok"],
        "no budget overspent": not overspent,
        "some approvals went through": figures["expenses_approved"] > 0,
    }
    return figures, checks


def report(figures: dict, checks: dict[str, bool]) -> int:
    """Print the figures and each check; the number of failed checks."""
    print("\nfigures:\n" + json.dumps(figures, indent=2, default=str))
    print("\nchecks:")
    for name, ok in checks.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    failed = [name for name, ok in checks.items() if not ok]
    print(f"\n{len(checks) - len(failed)} passed, {len(failed)} failed", flush=True)
    return len(failed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("create")
    make.add_argument("--approvals", type=int, required=True)
    make.add_argument("--slug", default="faults")
    verify = sub.add_parser("check")
    verify.add_argument("--org-id", type=int, required=True)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    if args.command == "create":
        scenario = create(args.approvals, args.slug)
        print(json.dumps({"org_id": scenario.org_id, "token": scenario.token, "paths": scenario.paths}))
        return 0
    return 1 if report(*check(args.org_id)) else 0


if __name__ == "__main__":
    sys.exit(main())
