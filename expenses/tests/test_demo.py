import pytest
from django.core.management import CommandError, call_command

from events.models import Event
from expenses.models import Expense


@pytest.mark.django_db
def test_seed_demo_is_idempotent_and_covers_every_state(capsys):
    call_command("seed_demo")
    expenses, events = Expense.objects.count(), Event.objects.count()
    call_command("seed_demo")

    assert "already loaded" in capsys.readouterr().out
    assert (Expense.objects.count(), Event.objects.count()) == (expenses, events)
    assert set(Expense.objects.values_list("state", flat=True)) == {"draft", "submitted", "approved", "rejected"}
    assert Event.objects.filter(type="expense.approval_recorded").exists()
    # the policy features are on show: a flag, an automatic approval, a confirmed duplicate, a delegate
    assert Expense.objects.filter(flags__contains=[{"code": "category_amount_exceeded"}]).exists()
    assert Expense.objects.filter(policy_outcome="auto_approved", state="approved").exists()
    assert Expense.objects.filter(duplicate_confirmed_at__isnull=False).exists()
    assert Event.objects.filter(type="delegation.granted").exists()
    assert Event.objects.filter(type="policy.changed").count() == 2
    # money: real ECB rates, expenses as spent in four other currencies, ready for a SEPA file
    assert set(Expense.objects.exclude(currency="EUR").values_list("currency", flat=True)) >= {"USD", "JPY", "GBP",
                                                                                                "KWD"}
    assert Expense.objects.get(merchant="Pod Hotel New York").rate_date.isoformat() == "2026-10-23"
    assert Event.objects.filter(type="bank_details.changed").count() == 3


@pytest.mark.django_db
def test_seed_demo_refuses_production_mode(settings):
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="refuses to run in production"):
        call_command("seed_demo")
    assert not Expense.objects.exists()
