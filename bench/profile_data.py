"""The data both profile scripts need: one organisation with an admin who approves, an employee,
one cost centre and one category, and submitted expenses ready to approve (written in bulk: the
approve path is what is profiled, not the submission)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal


@dataclass
class ProfileOrg:
    org: object
    admin: object
    employee: object
    cost_center: object
    category: object

    def submitted_expenses(self, count: int) -> list:
        from expenses.models import Expense

        today = self.org.today()
        return Expense.objects.bulk_create([
            Expense(organization=self.org, employee=self.employee, cost_center=self.cost_center,
                    category=self.category, amount=Decimal("1.00"), currency=self.org.currency,
                    org_amount=Decimal("1.00"), org_currency=self.org.currency, rate_date=today, merchant="p",
                    incurred_on=today, state="submitted", submitted_at=dt.datetime.now(dt.UTC))
            for _ in range(count)])


def ready_database() -> None:
    """Django set up on the services of ``config.embedded``, every migration applied, and the
    test client's host accepted: what both profile scripts do first."""
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", "--no-input", verbosity=0)


def profile_org(slug: str) -> ProfileOrg:
    """A fresh organisation whose limits never refuse an approval (budget, second approval,
    receipts, age); ``slug`` keeps two scripts' data apart in one database."""
    from django.contrib.auth import get_user_model

    from organizations.models import Category, CostCenter, Membership, Organization, Role

    org = Organization.objects.create(name=slug, slug=slug, currency="EUR",
                                      second_approval_threshold=Decimal("1000000"),
                                      receipt_required_threshold=Decimal("1000000"),
                                      max_expense_amount=Decimal("1000000"), expense_window_days=3650)
    users = get_user_model().objects
    admin = Membership.objects.create(user=users.create_user(f"{slug}-admin"), organization=org, role=Role.ADMIN)
    employee = Membership.objects.create(user=users.create_user(f"{slug}-employee"), organization=org,
                                         role=Role.EMPLOYEE, reports_to=admin)
    return ProfileOrg(org=org, admin=admin, employee=employee,
                      cost_center=CostCenter.objects.create(organization=org, code="CC", name="CC",
                                                            monthly_budget=Decimal("1e9")),
                      category=Category.objects.create(organization=org, code="cat", name="Cat"))
