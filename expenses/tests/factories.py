"""Build expense situations through the real commands (Zulip style), not by writing rows."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.core.files.uploadedfile import SimpleUploadedFile

from expenses import services
from organizations.models import Role
from organizations.tests.factories import (
    CategoryFactory,
    CostCenterFactory,
    MembershipFactory,
    OrganizationFactory,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def receipt_file(name: str = "receipt.png", content: bytes = PNG) -> SimpleUploadedFile:
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

    def expense(self, *, employee=None, amount="40.00", submit=False, receipt=True, days_ago=1, **data):
        employee = employee or self.employee
        values = {"cost_center_id": self.cost_center.pk, "category_id": self.category.pk, "amount": amount,
                  "merchant": "Café", "incurred_on": dt.date.today() - dt.timedelta(days=days_ago), **data}
        expense = services.expense_create(actor=employee, data=values, receipt=receipt_file() if receipt else None)
        if submit:
            expense = services.expense_submit(actor=employee, expense_id=expense.pk)
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
