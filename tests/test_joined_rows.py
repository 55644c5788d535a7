"""``core.rows``' instances made without ``Model.__init__`` are the instances ``Model.from_db``
makes, attribute for attribute, and a model that needs ``__init__`` still goes through it."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection
from django.db.models import signals

from core.rows import _made, _plain_init
from expenses.tests.factories import make_team

pytestmark = pytest.mark.django_db

# every model a JoinedRead of ours reads
READ = ["expenses.Expense", "expenses.Comment", "expenses.Approval", "organizations.Membership",
        "organizations.Organization", "organizations.CostCenter", "organizations.Category", "auth.User",
        "authtoken.Token", "events.Event"]


def _state(instance) -> tuple:
    return instance._state.adding, instance._state.db, dict(instance._state.fields_cache)


@pytest.mark.parametrize("label", READ)
def test_an_instance_made_plain_is_the_one_from_db_makes(label):
    from rest_framework.authtoken.models import Token

    from expenses import comments, services

    team = make_team()
    expense = team.expense(amount="12.50", submit=True)
    services.expense_approve(actor=team.manager, expense_id=expense.pk)
    comments.comment_add(actor=team.manager, expense_id=expense.pk, body="Fine")
    Token.objects.create(user=team.manager.user)
    model = apps.get_model(label)
    row = model._default_manager.first()
    names = tuple(f.attname for f in model._meta.concrete_fields)
    values = [getattr(row, name) if not hasattr(getattr(row, name), "name") else getattr(row, name).name
              for name in names]
    assert _plain_init(model), f"{label} would go through Model.__init__"
    ours, django = _made(model, names, list(values)), model.from_db(connection.alias, names, list(values))
    assert {k: v for k, v in vars(ours).items() if k != "_state"} == {k: v for k, v in vars(django).items()
                                                                       if k != "_state"}
    assert _state(ours) == _state(django) == (False, connection.alias, {})
    assert ours == django and ours.pk == row.pk
    for field in model._meta.concrete_fields:  # read through the fields' own attributes too
        assert getattr(ours, field.name if not field.is_relation else field.attname) == \
            getattr(django, field.name if not field.is_relation else field.attname)


def test_a_model_with_an_init_receiver_or_an_image_field_goes_through_init():
    from organizations.models import Category

    def receiver(**kwargs):
        pass

    signals.post_init.connect(receiver, sender=Category)
    try:
        assert not _plain_init(Category)
    finally:
        signals.post_init.disconnect(receiver, sender=Category)
    assert _plain_init(Category)

    from django.db import models

    class Avatar(models.Model):
        picture = models.ImageField(upload_to="x", width_field="width", height_field="height")
        width = models.IntegerField(null=True)
        height = models.IntegerField(null=True)

        class Meta:
            app_label = "core"
            managed = False

        def __str__(self) -> str:
            return self.picture.name

    assert not _plain_init(Avatar)
