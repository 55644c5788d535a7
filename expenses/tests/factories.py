"""Expense test data. Flows build their state through the real commands (``make_team`` and
``Team.expense``, Zulip style) so events are published; ``ExpenseFactory`` and
``ApprovalFactory`` write rows directly, for tests that only need rows to exist (queries,
serializers, admin) and must not depend on the commands."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from decimal import Decimal

import factory
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from expenses import services
from expenses.models import Approval, ApprovalStep, Expense, ExpenseState
from organizations.models import Role
from organizations.tests.factories import (
    CategoryFactory,
    CostCenterFactory,
    MembershipFactory,
    OrganizationFactory,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


_receipts = itertools.count()


def receipt_file(name: str = "receipt.png", content: bytes | None = None) -> SimpleUploadedFile:
    """A valid PNG; unless ``content`` is given, a different file each call (the same file twice
    makes the second expense a possible duplicate, which only the duplicate tests want)."""
    if content is None:
        content = PNG + f"#{next(_receipts)}".encode()
    return SimpleUploadedFile(name, content, content_type="image/png")


@dataclass
class Team:
    """An organisation with a manager, two employees reporting to them, finance and an admin."""

    org: object
    manager: object
    employee: object
    colleague: object
    finance: object
    admin: object
    cost_center: object
    category: object

    def expense(self, *, employee=None, amount="40.00", submit=False, receipt=True, days_ago=0,
                not_duplicate=True, **data):
        """A draft (or, with ``submit``, a submission) through the commands, incurred ``days_ago``
        days before the organisation's today (by default today: this month, whatever the date and
        wherever the organisation is). Flow tests repeat the same claim freely, so submissions
        confirm "not a duplicate" unless ``not_duplicate=False`` (the duplicate check has its own
        tests)."""
        employee = employee or self.employee
        values = {"cost_center_id": self.cost_center.pk, "category_id": self.category.pk, "amount": amount,
                  "merchant": "Café", "incurred_on": self.org.today() - dt.timedelta(days=days_ago), **data}
        expense = services.expense_create(actor=employee, data=values, receipt=receipt_file() if receipt else None)
        if submit:
            expense = services.expense_submit(actor=employee, expense_id=expense.pk,
                                              confirm_not_duplicate=not_duplicate)
        return expense


def make_team(*, budget: str = "5000.00", threshold: str = "1000.00", org=None) -> Team:
    org = org or OrganizationFactory(second_approval_threshold=Decimal(threshold))
    manager = MembershipFactory(organization=org, role=Role.MANAGER)
    return Team(
        org=org, manager=manager,
        employee=MembershipFactory(organization=org, reports_to=manager),
        colleague=MembershipFactory(organization=org, reports_to=manager),
        finance=MembershipFactory(organization=org, role=Role.FINANCE),
        admin=MembershipFactory(organization=org, role=Role.ADMIN),
        cost_center=CostCenterFactory(organization=org, monthly_budget=Decimal(budget)),
        category=CategoryFactory(organization=org),
    )


class ExpenseFactory(factory.django.DjangoModelFactory):
    """A draft expense row (no event); employee, cost centre and category share its organisation.

    Pass ``state=ExpenseState.SUBMITTED`` etc. for a row in another state; ``submitted_at`` and
    ``decided_at`` follow the state unless given."""

    class Meta:
        model = Expense

    organization = factory.SubFactory(OrganizationFactory)
    employee = factory.SubFactory(MembershipFactory, organization=factory.SelfAttribute("..organization"))
    cost_center = factory.SubFactory(CostCenterFactory, organization=factory.SelfAttribute("..organization"))
    category = factory.SubFactory(CategoryFactory, organization=factory.SelfAttribute("..organization"))
    amount = Decimal("40.00")
    merchant = factory.Sequence(lambda n: f"Merchant {n}")
    incurred_on = factory.LazyAttribute(lambda e: e.organization.today())
    state = ExpenseState.DRAFT
    submitted_at = factory.LazyAttribute(lambda e: None if e.state == ExpenseState.DRAFT else timezone.now())
    decided_at = factory.LazyAttribute(
        lambda e: timezone.now() if e.state in (ExpenseState.APPROVED, ExpenseState.REJECTED) else None)


class ApprovalFactory(factory.django.DjangoModelFactory):
    """An approval row; by default the manager step by a manager of the expense's organisation."""

    class Meta:
        model = Approval

    expense = factory.SubFactory(ExpenseFactory, state=ExpenseState.SUBMITTED)
    step = ApprovalStep.MANAGER
    approver = factory.SubFactory(MembershipFactory, organization=factory.SelfAttribute("..expense.organization"),
                                  role=Role.MANAGER)
    decided_at = factory.LazyFunction(timezone.now)
