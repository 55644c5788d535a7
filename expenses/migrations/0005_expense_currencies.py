"""Expenses as spent (amount with up to three decimals, currency) and as converted into the
organisation's currency. Existing expenses were entered in the organisation's currency: their
converted amount is their amount, at rate 1 on the date incurred."""

from decimal import Decimal

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('expenses', '0004_budget_index_covers_amount'),
        ('organizations', '0001_initial'),
    ]

    operations = [
        migrations.AlterField(
            model_name='expense', name='amount', field=models.DecimalField(decimal_places=3, max_digits=15)),
        migrations.AddField(
            model_name='expense', name='currency', field=models.CharField(max_length=3, default=''),
            preserve_default=False),
        migrations.AddField(
            model_name='expense', name='org_currency', field=models.CharField(max_length=3, default=''),
            preserve_default=False),
        migrations.AddField(
            model_name='expense', name='org_amount',
            field=models.DecimalField(decimal_places=2, max_digits=12, null=True,
                                      help_text="The amount in the organisation's currency (half up, once).")),
        migrations.AddField(
            model_name='expense', name='exchange_rate',
            field=models.DecimalField(decimal_places=10, default=Decimal('1'), max_digits=20,
                                      help_text='1 unit of currency = this many units of org_currency.')),
        migrations.AddField(
            model_name='expense', name='rate_date',
            field=models.DateField(null=True, help_text='The day whose rate was used (the date incurred, or up to 7 '
                                                        'days before).')),
        migrations.AddField(
            model_name='expense', name='rate_source',
            field=models.CharField(default='identity', help_text='identity, ecb or manual', max_length=10)),
        migrations.RunSQL(
            "UPDATE expenses_expense e SET currency = o.currency, org_currency = o.currency, org_amount = e.amount, "
            "rate_date = e.incurred_on FROM organizations_organization o WHERE o.id = e.organization_id",
            reverse_sql=migrations.RunSQL.noop),
        migrations.AlterField(
            model_name='expense', name='org_amount',
            field=models.DecimalField(decimal_places=2, max_digits=12,
                                      help_text="The amount in the organisation's currency (half up, once).")),
        migrations.AlterField(
            model_name='expense', name='rate_date',
            field=models.DateField(help_text='The day whose rate was used (the date incurred, or up to 7 days '
                                             'before).')),
        migrations.AddConstraint(
            model_name='expense',
            constraint=models.CheckConstraint(condition=models.Q(('org_amount__gt', Decimal('0'))),
                                              name='expense_org_amount_positive',
                                              violation_error_message='The converted amount must be greater than '
                                                                      'zero.')),
        migrations.RemoveIndex(model_name='expense', name='expense_budget_idx'),
        migrations.AddIndex(
            model_name='expense',
            index=models.Index(fields=['cost_center', 'state', 'incurred_on'], include=('org_amount',),
                               name='expense_budget_idx')),
    ]
