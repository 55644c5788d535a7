"""Daily reference exchange rates (and an organisation's own overrides), and employees' bank
details."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from organizations.models import Membership, Organization

from .bank import mask_iban

# Reference rates are quoted against one base currency, the ECB's: 1 EUR = rate × quote.
BASE_CURRENCY = "EUR"


class RateSource(models.TextChoices):
    ECB = "ecb", "European Central Bank reference rate"
    MANUAL = "manual", "Entered by finance"


class ExchangeRate(models.Model):
    """1 ``base`` = ``rate`` ``quote`` on ``date``.

    Without an organisation the row is a reference rate every organisation uses (imported or
    fetched from the ECB). With one it is that organisation's own rate for the day, entered by
    finance with a reason; it wins over the reference rate of the same day for that
    organisation only. Expenses copy the rate they were converted at, so changing a row never
    changes an expense already submitted."""

    organization = models.ForeignKey(Organization, null=True, blank=True, on_delete=models.CASCADE,
                                     related_name="exchange_rates",
                                     help_text="Empty: a reference rate for every organisation.")
    base = models.CharField(max_length=3, default=BASE_CURRENCY)
    quote = models.CharField(max_length=3)
    date = models.DateField()
    rate = models.DecimalField(max_digits=20, decimal_places=10)
    source = models.CharField(max_length=10, choices=RateSource.choices)
    reason = models.TextField(blank=True, help_text="Why finance set this rate.")
    set_by_user_id = models.BigIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-date", "quote"]
        constraints = [
            # NULLS NOT DISTINCT: one reference rate per day and pair, and one per organisation.
            models.UniqueConstraint(fields=["organization", "base", "date", "quote"], nulls_distinct=False,
                                    name="exchange_rate_once",
                                    violation_error_message="There is already a rate for this day and currency."),
            models.CheckConstraint(condition=Q(rate__gt=0), name="exchange_rate_positive",
                                   violation_error_message="A rate is greater than zero."),
            models.CheckConstraint(condition=~Q(base=models.F("quote")), name="exchange_rate_two_currencies",
                                   violation_error_message="A rate converts between two different currencies."),
        ]
        indexes = [models.Index(fields=["base", "quote", "date"], name="exchange_rate_lookup_idx")]

    def __str__(self) -> str:
        return f"{self.date} 1 {self.base} = {self.rate} {self.quote} ({self.source})"


class BankAccount(models.Model):
    """Where an employee's reimbursements are paid. The IBAN is stored in its electronic form
    (no spaces, upper case) after schwifty checked it; everyone but finance and the owner sees
    it masked (``money.bank.mask_iban``)."""

    membership = models.OneToOneField(Membership, on_delete=models.CASCADE, related_name="bank_account")
    holder = models.CharField(max_length=70)
    iban = models.CharField(max_length=34)
    bic = models.CharField(max_length=11, blank=True)
    updated_at = models.DateTimeField()
    updated_by_user_id = models.BigIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.holder} {mask_iban(self.iban)}"
