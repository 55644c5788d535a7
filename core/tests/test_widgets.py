"""``core.widgets.WidgetRenderer`` writes what Django's template renderer writes, byte for byte,
for every widget it writes itself, and hands the rest to Django."""

from __future__ import annotations

import datetime as dt

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy

from core.widgets import WidgetRenderer

CHOICES = [("", "Any"), (1, "Ann & <Bob>"), ("x\"y", gettext_lazy("Lazy")), (3, mark_safe("<b>safe</b>"))]
GROUPED = [("", "Any"), ("Europe", [("de", "Berlin"), ("fr", "Paris")]), ("us", "New York")]

CASES = [
    (forms.TextInput(), "q", None, {"id": "id_q", "maxlength": 200}),
    (forms.TextInput(), "q", "", {"id": "id_q"}),
    (forms.TextInput(attrs={"placeholder": "12,50", "inputmode": "decimal"}), "q", "a \"b\" <c> & 'd'", {"id": "i"}),
    (forms.TextInput(), "q", mark_safe("<i>"), {"required": True, "disabled": False, "aria-invalid": "true"}),
    (forms.TextInput(), "q", "x", {"data-none": None}),
    (forms.NumberInput(), "n", 12, {"id": "n", "step": "any"}),
    (forms.DateInput(attrs={"type": "date"}), "d", dt.date(2026, 3, 29), {"id": "d"}),
    (forms.HiddenInput(), "h", 7, {"id": "h"}),
    (forms.EmailInput(), "e", "a@b.c", None),
    (forms.PasswordInput(render_value=False), "p", "secret", {}),
    (forms.Select(choices=CHOICES), "s", None, {"id": "s"}),
    (forms.Select(choices=CHOICES), "s", 1, {"id": "s", "required": True}),
    (forms.Select(choices=CHOICES), "s", "x\"y", {}),
    (forms.Select(choices=GROUPED), "g", "fr", {"id": "g"}),
    (forms.Select(choices=[]), "empty", None, {}),
    (forms.SelectMultiple(choices=CHOICES), "m", [1, 3], {"id": "m"}),
    (forms.NullBooleanSelect(), "b", True, {"id": "b"}),
    (forms.RadioSelect(choices=CHOICES), "r", 1, {"id": "r"}),  # not written by it: Django's own
    (forms.Textarea(), "t", "a <b>", {"id": "t"}),
    (forms.CheckboxInput(), "c", True, {"id": "c"}),
]


@pytest.mark.parametrize(("widget", "name", "value", "attrs"), CASES,
                         ids=[f"{type(w).__name__}-{i}" for i, (w, *_) in enumerate(CASES)])
def test_it_writes_what_django_writes(widget, name, value, attrs):
    assert widget.render(name, value, attrs, renderer=WidgetRenderer()) == \
        widget.render(name, value, attrs, renderer=DjangoTemplates())


@pytest.mark.parametrize("language", ["en", "de"])
def test_a_label_that_is_a_number_or_a_date_is_written_as_the_locale_writes_it(language):
    from decimal import Decimal

    from django.utils import translation

    choices = [(1, Decimal("1234.5")), (2, dt.date(2026, 3, 1)), (3, 7), ("g", [(4, 2.5)]),
               (dt.date(2026, 3, 2), [(5, "in a dated group")]),
               (6, dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC))]
    with translation.override(language):
        ours = forms.Select(choices=choices).render("s", 2, {}, renderer=WidgetRenderer())
        assert ours == forms.Select(choices=choices).render("s", 2, {}, renderer=DjangoTemplates())
    assert ("1234,5" if language == "de" else "1234.5") in ours


def test_it_writes_the_plain_widgets_itself(monkeypatch):
    """The comparison above would hold trivially if everything fell through to the templates."""
    def no_templates(*args, **kwargs):
        raise AssertionError("a template was rendered")

    monkeypatch.setattr(DjangoTemplates, "render", no_templates)
    for widget, name, value, attrs in CASES:
        if isinstance(widget, (forms.TextInput, forms.NumberInput, forms.DateInput, forms.HiddenInput, forms.EmailInput,
                               forms.PasswordInput, forms.Select)):
            assert widget.render(name, value, attrs, renderer=WidgetRenderer()).startswith(("<input", "<select"))


def test_the_project_renders_forms_with_it():
    from django.forms.renderers import get_default_renderer

    assert isinstance(get_default_renderer(), WidgetRenderer)
