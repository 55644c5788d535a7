"""Tenants (organisations), who belongs to them and in which role, and where money is spent."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from core.currencies import currency_name, current_currencies, minor_units

from .formats import validate_locale


def organization_currencies() -> list[tuple[str, str]]:
    """Currencies an organisation may keep its books in: every ISO 4217 code in current use (CLDR,
    through Babel: legal tender with no end date, so the list depends on no server's or
    organisation's date) with at most two decimals, because the ledger, budgets and payouts are
    kept to the cent. Expenses themselves may be in any active currency (JPY, KWD, ...)."""
    return sorted((code, currency_name(code)) for code in current_currencies() if minor_units(code) <= 2)


def validate_iban(value: str) -> None:
    try:
        IBAN(value)
    except SchwiftyException:
        raise ValidationError("This is not a valid IBAN.", code="invalid_iban") from None


def validate_bic(value: str) -> None:
    try:
        BIC(value)
    except SchwiftyException:
        raise ValidationError("This is not a valid BIC.", code="invalid_bic") from None


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone.", code="invalid_time_zone")


class Organization(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    currency = models.CharField(max_length=3, choices=organization_currencies, default="EUR",
                                validators=[RegexValidator(r"^[A-Z]{3}$")])
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    locale = models.CharField(max_length=20, default="en_GB", validators=[validate_locale],
                              help_text="How pages write and read amounts and dates (de_DE: 1.234,50 and 30.11.2026).")
    second_approval_threshold = models.DecimalField(
        max_digits=12, decimal_places=2, default=Decimal("1000.00"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Expenses above this amount also need a finance approval.",
    )
    receipt_required_threshold = models.DecimalField(
        max_digits=12, decimal_places=2, default=Decimal("25.00"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Expenses above this amount need a receipt.",
    )
    max_expense_amount = models.DecimalField(
        max_digits=12, decimal_places=2, default=Decimal("10000.00"),
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text="No single expense may exceed this amount.",
    )
    expense_window_days = models.PositiveIntegerField(
        default=90, help_text="Expenses older than this many days cannot be claimed.",
    )
    # The organisation's own bank account: the debtor of its SEPA payout files.
    debtor_name = models.CharField(max_length=70, blank=True, default="",
                                   help_text="Account holder named in payment files.")
    debtor_iban = models.CharField(max_length=34, blank=True, default="", validators=[validate_iban],
                                   help_text="IBAN payouts are paid from (electronic form, no spaces).")
    debtor_bic = models.CharField(max_length=11, blank=True, default="", validators=[validate_bic],
                                  help_text="BIC of the organisation's bank (where the bank needs it).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """The debtor account in its electronic form (what a payment file needs), whoever enters it."""
        try:
            if self.debtor_iban:
                self.debtor_iban = IBAN(self.debtor_iban).compact
            if self.debtor_bic:
                self.debtor_bic = str(BIC(self.debtor_bic).compact)
        except SchwiftyException:
            pass  # the field validators report it

    def today(self) -> dt.date:
        """Today's date where the organisation is (its time zone), not the server's: the one place
        "today" is computed for claim windows, category rules, delegations and "this month"."""
        return self.date_of(timezone.now())

    def date_of(self, moment: dt.datetime) -> dt.date:
        """The date it was where the organisation is at ``moment`` (an aware datetime): the day
        a journal entry is booked on, whenever its delivery runs."""
        return moment.astimezone(zoneinfo.ZoneInfo(self.time_zone)).date()


class Role(models.TextChoices):
    EMPLOYEE = "employee", "Employee"
    MANAGER = "manager", "Manager"
    FINANCE = "finance", "Finance"
    ADMIN = "admin", "Organisation admin"


class Membership(models.Model):
    """A user's place in one organisation: their role and whom they report to.

    A user belongs to exactly one organisation (unique ``user``); that keeps "the caller's
    organisation" unambiguous for every query.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.EMPLOYEE)
    reports_to = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="reports")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["organization", "user__username"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(reports_to=models.F("id")),
                name="membership_not_own_manager",
                violation_error_message="Nobody reports to themselves.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user.get_username()} ({self.get_role_display()}, {self.organization})"

    def clean(self) -> None:
        if self.reports_to_id and self.reports_to.organization_id != self.organization_id:
            raise ValidationError({"reports_to": "The manager must belong to the same organisation."})

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_finance(self) -> bool:
        return self.role in (Role.FINANCE, Role.ADMIN)

    @property
    def is_manager(self) -> bool:
        return self.role in (Role.MANAGER, Role.ADMIN)

    @property
    def display_name(self) -> str:
        return self.user.get_full_name() or self.user.get_username()


class CostCenter(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="cost_centers")
    code = models.CharField(max_length=20)
    name = models.CharField(max_length=200)
    monthly_budget = models.DecimalField(max_digits=12, decimal_places=2,
                                         validators=[MinValueValidator(Decimal("0"))])
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["organization", "code"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "code"], name="cost_center_code_unique",
                                    violation_error_message="This code is already used in the organisation."),
            models.CheckConstraint(condition=models.Q(monthly_budget__gte=0), name="cost_center_budget_non_negative",
                                   violation_error_message="A budget cannot be negative."),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Category(models.Model):
    """An expense category; each organisation keeps its own list (and its ledger has an account per category)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="categories")
    code = models.SlugField(max_length=40)
    name = models.CharField(max_length=100)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["organization", "name"]
        verbose_name_plural = "categories"
        constraints = [
            models.UniqueConstraint(fields=["organization", "code"], name="category_code_unique",
                                    violation_error_message="This code is already used in the organisation."),
        ]

    def __str__(self) -> str:
        return self.name
