"""Demo data for `make run`: two organisations, their people, budgets, and expenses in every
state — created through the real commands, so the event log and every side effect are real."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from organizations.models import Category, CostCenter, Membership, Organization, Role

from . import delegation, policy, services

DEMO_PASSWORD = "outlay-demo"  # noqa: S105 - demo data only; seed_demo refuses production mode
CATEGORIES = [("travel", "Travel"), ("meals", "Meals"), ("lodging", "Lodging"), ("software", "Software"),
              ("office", "Office supplies")]
# A tiny valid PNG, so demo receipts pass the content check.
RECEIPT = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"


def _user(username: str, first: str, last: str, *, superuser: bool = False):
    User = get_user_model()
    user = User.objects.create_user(username=username, password=DEMO_PASSWORD, first_name=first, last_name=last,
                                    email=f"{username}@example.com")
    if superuser:
        user.is_staff = user.is_superuser = True
        user.save(update_fields=["is_staff", "is_superuser"])
    return user


def _org(name: str, slug: str, currency: str, people: list[tuple], cost_centers: list[tuple]) -> dict:
    org = Organization.objects.create(name=name, slug=slug, currency=currency, time_zone="Europe/Berlin",
                                      second_approval_threshold=Decimal("1000.00"),
                                      receipt_required_threshold=Decimal("25.00"))
    members: dict[str, Membership] = {}
    for username, first, last, role, reports_to, superuser in people:
        members[username] = Membership.objects.create(
            user=_user(username, first, last, superuser=superuser), organization=org, role=role,
            reports_to=members.get(reports_to))
    for code, cc_name, budget in cost_centers:
        CostCenter.objects.create(organization=org, code=code, name=cc_name, monthly_budget=Decimal(budget))
    for code, cat_name in CATEGORIES:
        Category.objects.create(organization=org, code=code, name=cat_name)
    return {"org": org, **members}


def _expense(member, cc_code, category, amount, merchant, days_ago, description=""):
    org = member.organization
    data = {"cost_center_id": CostCenter.objects.get(organization=org, code=cc_code).pk,
            "category_id": Category.objects.get(organization=org, code=category).pk,
            "amount": amount, "merchant": merchant, "description": description,
            "incurred_on": org.today() - dt.timedelta(days=days_ago)}
    # Each receipt its own file (a shared one would make every demo expense a possible duplicate).
    receipt = SimpleUploadedFile("receipt.png", RECEIPT + f"{merchant}:{days_ago}".encode(), content_type="image/png")
    return services.expense_create(actor=member, data=data, receipt=receipt)


def already_loaded() -> bool:
    return Organization.objects.filter(slug="acme").exists()


@transaction.atomic
def load() -> None:
    acme = _org("Acme", "acme", "EUR", [
        ("admin", "Ada", "Admin", Role.ADMIN, None, True),
        ("finance", "Fiona", "Finance", Role.FINANCE, None, False),
        ("maria", "Maria", "Manager", Role.MANAGER, None, False),
        ("mark", "Mark", "Manager", Role.MANAGER, None, False),
        ("eve", "Eve", "Employee", Role.EMPLOYEE, "maria", False),
        ("ed", "Ed", "Employee", Role.EMPLOYEE, "maria", False),
        ("ella", "Ella", "Employee", Role.EMPLOYEE, "mark", False),
    ], [("ENG", "Engineering", "5000.00"), ("SAL", "Sales", "3000.00"), ("OPS", "Operations", "800.00")])
    globex = _org("Globex", "globex", "USD", [
        ("gina", "Gina", "Manager", Role.MANAGER, None, False),
        ("gus", "Gus", "Employee", Role.EMPLOYEE, "gina", False),
    ], [("RND", "Research", "4000.00")])

    eve, ed, ella, maria, mark = (acme[k] for k in ("eve", "ed", "ella", "maria", "mark"))
    _expense(eve, "ENG", "software", "19.99", "JetBrains", 3, "IDE licence (draft)")
    for member, cc, cat, amount, merchant, days in [
        (eve, "ENG", "travel", "245.80", "Deutsche Bahn", 6), (ed, "ENG", "meals", "64.50", "Trattoria Roma", 2),
        (ella, "SAL", "lodging", "389.00", "Hotel Adlon", 4), (ed, "OPS", "office", "720.00", "Office Depot", 1),
        (eve, "ENG", "lodging", "1450.00", "Conference Hotel", 8)]:
        expense = _expense(member, cc, cat, amount, merchant, days)
        services.expense_submit(actor=member, expense_id=expense.pk)
    approved = _expense(eve, "ENG", "meals", "42.00", "Team lunch", 5)
    services.expense_submit(actor=eve, expense_id=approved.pk)
    services.expense_approve(actor=maria, expense_id=approved.pk)
    approved2 = _expense(ella, "SAL", "travel", "180.00", "Lufthansa", 7)
    services.expense_submit(actor=ella, expense_id=approved2.pk)
    services.expense_approve(actor=mark, expense_id=approved2.pk)
    rejected = _expense(ed, "ENG", "meals", "95.00", "Bar Centrale", 9)
    services.expense_submit(actor=ed, expense_id=rejected.pk)
    services.expense_reject(actor=maria, expense_id=rejected.pk, reason="Team drinks are not reimbursable.")
    big = _expense(ella, "SAL", "travel", "1200.00", "Trade fair stand", 10)
    services.expense_submit(actor=ella, expense_id=big.pk)
    services.expense_approve(actor=mark, expense_id=big.pk)  # waits for finance now
    gus = globex["gus"]
    g1 = _expense(gus, "RND", "software", "99.00", "GitHub", 2)
    services.expense_submit(actor=gus, expense_id=g1.pk)

    # The policy: meals above 80 EUR are flagged for the manager; compliant expenses under 30 EUR
    # are approved automatically, with 20% still sent to the manager; a duplicate the employee
    # confirmed; Maria's stand-in (Mark) for the coming week.
    admin = acme["admin"]
    meals = Category.objects.get(organization=acme["org"], code="meals")
    policy.category_rule_set(actor=admin, category_id=meals.pk, data={"max_amount": "80.00", "on_violation": "flag"})
    policy.policy_update(actor=admin, data={"auto_approve_under": "30.00", "auto_approve_sample_percent": 20})
    dinner = _expense(ed, "SAL", "meals", "112.00", "Client dinner", 3)
    services.expense_submit(actor=ed, expense_id=dinner.pk)
    coffee = _expense(eve, "ENG", "meals", "8.40", "Coffee with a candidate", 1)
    services.expense_submit(actor=eve, expense_id=coffee.pk, rng=random.Random(0))  # noqa: S311 - draws 84: outside the sample
    again = _expense(ed, "ENG", "meals", "64.50", "Trattoria Roma", 2, "Second visit, same bill by chance")
    services.expense_submit(actor=ed, expense_id=again.pk, confirm_not_duplicate=True)
    delegation.delegation_create(actor=maria, delegate_id=mark.pk,
                                 ends_on=maria.organization.today() + dt.timedelta(days=7))
