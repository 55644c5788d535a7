"""Django's form renderer, with the plain input and select widgets written out in Python.

Django renders every widget through templates: a select of fifty people is fifty-one template
includes, each with its own attribute loop. On the approval queue the filter form's six inputs
and four selects took 1.2 ms of a 14 ms page (bench/profile_reads.py), and the employee select
grows with the organisation. This renderer writes the same HTML, byte for byte, for Django's own
``input.html`` family and ``select.html`` (``core/tests/test_widgets.py`` compares the two for
every kind of value and attribute), and hands every other template to Django's renderer
unchanged. ``settings.FORM_RENDERER``; an app that overrides these widget templates must drop it
(none does: the renderer does not look for overrides).
"""

from __future__ import annotations

from django.forms.renderers import DjangoTemplates
from django.utils.formats import localize
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe
from django.utils.timezone import template_localtime

_INPUTS = frozenset(f"django/forms/widgets/{name}.html" for name in (
    "input", "text", "number", "email", "url", "password", "hidden", "date", "datetime", "time", "search",
    "tel", "color"))
_SELECT = "django/forms/widgets/select.html"
_OPTION = "django/forms/widgets/select_option.html"


def _attrs(attrs: dict) -> str:
    """``django/forms/widgets/attrs.html``: ``True`` is a bare name, ``False`` is left out."""
    return "".join(f" {conditional_escape(name)}" if value is True else
                   f' {conditional_escape(name)}="{conditional_escape(str(value))}"'
                   for name, value in attrs.items() if value is not False)


def _text(value) -> str:
    """``{{ value }}``: a number or a date as the active locale writes it (a time in the current
    time zone), then escaped."""
    return conditional_escape(value if isinstance(value, str) else localize(template_localtime(value)))


def _input(widget: dict) -> str:
    value = "" if widget["value"] is None else f' value="{conditional_escape(str(widget["value"]))}"'
    return (f'<input type="{conditional_escape(widget["type"])}" name="{conditional_escape(widget["name"])}"'
            f'{value}{_attrs(widget["attrs"])}>')


def _select(widget: dict) -> str | None:
    parts = [f'<select name="{conditional_escape(widget["name"])}"{_attrs(widget["attrs"])}>']
    for group_name, options, _ in widget["optgroups"]:
        if group_name:
            parts.append(f'\n  <optgroup label="{_text(group_name)}">')
        for option in options:
            if option["template_name"] != _OPTION:
                return None  # a widget with its own option template: Django renders it
            parts.append(f'\n  <option value="{conditional_escape(str(option["value"]))}"{_attrs(option["attrs"])}>'
                         f'{_text(option["label"])}</option>\n')
        if group_name:
            parts.append("\n  </optgroup>")
    parts.append("\n</select>")
    return "".join(parts)


class WidgetRenderer(DjangoTemplates):
    def render(self, template_name, context, request=None):
        widget = context.get("widget")
        if widget is not None and widget.get("template_name") == template_name:
            if template_name in _INPUTS:
                return mark_safe(_input(widget))  # noqa: S308 (every value above is escaped)
            if template_name == _SELECT:
                html = _select(widget)
                if html is not None:
                    return mark_safe(html)  # noqa: S308
        return super().render(template_name, context, request)
