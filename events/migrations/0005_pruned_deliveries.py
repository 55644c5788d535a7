# Done deliveries past their retention are pruned; what a backfill needs of them is kept here.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('events', '0004_batches_and_backfills'),
    ]

    operations = [
        migrations.CreateModel(
            name='PrunedDeliveries',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('subscriber', models.CharField(max_length=100)),
                ('event_type', models.CharField(max_length=100)),
                ('first_occurred_at', models.DateTimeField()),
                ('first_event_id', models.UUIDField()),
                ('last_occurred_at', models.DateTimeField()),
                ('last_event_id', models.UUIDField()),
                ('deliveries', models.BigIntegerField(help_text='Done deliveries pruned so far.')),
                ('updated_at', models.DateTimeField()),
            ],
            options={
                'verbose_name_plural': 'pruned deliveries',
                'ordering': ['subscriber', 'event_type'],
                'constraints': [models.UniqueConstraint(fields=('subscriber', 'event_type'), name='pruned_deliveries_once', violation_error_message="A subscriber's pruned deliveries of a type are one span.")],
            },
        ),
    ]
