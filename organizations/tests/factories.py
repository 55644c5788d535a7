"""factory-boy factories for tenants; every app's tests build on them."""

from __future__ import annotations

from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from organizations.models import Category, CostCenter, Membership, Organization, Role
from tests.support.clock import organization_time_zone

PASSWORD = "outlay-test-password"


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Org {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")
    currency = "EUR"
    time_zone = factory.LazyFunction(organization_time_zone)  # a frozen clock's zone, else UTC
    second_approval_threshold = Decimal("1000.00")
    receipt_required_threshold = Decimal("25.00")
    max_expense_amount = Decimal("10000.00")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    first_name = factory.Faker("first_name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Role.EMPLOYEE


class CostCenterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CostCenter

    organization = factory.SubFactory(OrganizationFactory)
    code = factory.Sequence(lambda n: f"CC{n}")
    name = factory.Sequence(lambda n: f"Cost centre {n}")
    monthly_budget = Decimal("5000.00")


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category

    organization = factory.SubFactory(OrganizationFactory)
    code = factory.Sequence(lambda n: f"cat-{n}")
    name = factory.Sequence(lambda n: f"Category {n}")
