"""The manager dashboard: the month's spend by cost centre and category, from the read model
(``expenses.monthly_spend``), as a chart and a table, with each cost centre's budget used."""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from decimal import Decimal

from django.shortcuts import render

from expenses import queries
from organizations.formats import format_month, format_number

from .base import APPROVERS, member_required

CHART_WIDTH = 960
LABEL_WIDTH = 80
VALUE_WIDTH = 190
BAR_HEIGHT = 26
ROW_HEIGHT = 40
PALETTE_SIZE = 6


def spend_chart(budgets: list[dict], rows: list, locale: str) -> dict:
    """Geometry of a horizontal bar chart: per cost centre the budget as a track and the approved
    spend stacked by category on it. All numbers are computed here so the SVG template only
    places shapes (no inline script, nothing for the CSP to refuse); amounts in the titles are
    written in the organisation's ``locale``."""
    categories = sorted({row.category_name for row in rows if row.approved_total})
    # A category keeps its colour from month to month: it follows the category, not its rank.
    colour = {row.category_name: category_colour(row.category_id) for row in rows}
    by_cost_center: dict[str, list] = defaultdict(list)
    for row in rows:
        if row.approved_total:
            by_cost_center[row.cost_center_code].append(row)
    track = CHART_WIDTH - LABEL_WIDTH - VALUE_WIDTH
    top = max([b["budget"] for b in budgets] + [b["used"] for b in budgets] + [Decimal("1")])
    scale = track / float(top)
    bars = []
    for i, usage in enumerate(budgets):
        y = 8 + i * ROW_HEIGHT
        x = float(LABEL_WIDTH)
        segments = []
        for row in sorted(by_cost_center.get(usage["cost_center"].code, []), key=lambda r: r.category_name):
            width = float(row.approved_total) * scale
            segments.append({"x": round(x, 1), "width": round(max(width, 1.5), 1), "colour": colour[row.category_name],
                             "title": f"{row.category_name}: {format_number(row.approved_total, locale)}"})
            x += width
        bars.append({"code": usage["cost_center"].code, "y": y, "text_y": y + 18, "used": usage["used"],
                     "budget": usage["budget"], "over": usage["used"] > usage["budget"],
                     "budget_width": round(float(usage["budget"]) * scale, 1), "segments": segments})
    return {"bars": bars, "width": CHART_WIDTH, "height": 16 + ROW_HEIGHT * len(bars), "label_width": LABEL_WIDTH,
            "value_x": CHART_WIDTH - 4, "legend": [{"name": name, "colour": colour[name]} for name in categories]}


TREND_WIDTH = 960
TREND_HEIGHT = 300
TREND_LEFT = 70
TREND_BOTTOM = 40
TREND_TOP = 24


def trend_chart(months: list[str], rows: list[dict], locale: str) -> dict:
    """Geometry of stacked columns: one per month, approved spend stacked by cost centre, with
    four gridlines. Computed here so the SVG template only places shapes (CSP: no script);
    months and amounts are written in the organisation's ``locale``."""
    codes = sorted({row["cost_center_code"] for row in rows if row["total"]})
    colour = {code: i % PALETTE_SIZE for i, code in enumerate(codes)}
    by_month: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        if row["total"]:
            by_month[row["month"]].append(row)
    totals = {month: sum((r["total"] for r in by_month[month]), Decimal("0")) for month in months}
    top = _nice_ceiling(max([*totals.values(), Decimal("1")]))
    plot_height = TREND_HEIGHT - TREND_TOP - TREND_BOTTOM
    slot = (TREND_WIDTH - TREND_LEFT) / len(months)
    scale = plot_height / float(top)
    base = TREND_TOP + plot_height
    columns = []
    for i, month in enumerate(months):
        first = month_start(month)
        label = format_month(first, locale)
        x = TREND_LEFT + i * slot + slot * 0.15
        y = float(base)
        segments = []
        for row in sorted(by_month[month], key=lambda r: r["cost_center_code"]):
            height = max(float(row["total"]) * scale, 1.0)
            y -= height
            segments.append({"y": round(y, 1), "height": round(height, 1), "colour": colour[row["cost_center_code"]],
                             "title": f"{label} {row['cost_center_code']}: {format_number(row['total'], locale)}"})
        columns.append({"month": month, "name": label, "label": format_month(first, locale, short=True),
                        "x": round(x, 1), "width": round(slot * 0.7, 1), "centre": round(x + slot * 0.35, 1),
                        "total": totals[month], "total_y": round(y - 6, 1), "segments": segments})
    grid = [{"y": round(base - plot_height * k / 4, 1), "value": format_number(top * k / 4, locale, whole=True)}
            for k in range(5)]
    return {"columns": columns, "grid": grid, "width": TREND_WIDTH, "height": TREND_HEIGHT, "left": TREND_LEFT,
            "base": base, "label_y": base + 22, "legend": [{"name": c, "colour": colour[c]} for c in codes]}


def _nice_ceiling(value: Decimal) -> Decimal:
    """The smallest of 1, 2, 2.5 or 5 times a power of ten that is at least ``value``."""
    power = Decimal(10) ** (len(str(int(value))) - 1)
    for step in (1, 2, Decimal("2.5"), 5, 10):
        if value <= power * step:
            return power * step
    return power * 10


def month_start(month: str) -> dt.date:
    """``"2026-11"`` as the first day of that month."""
    return dt.date(int(month[:4]), int(month[5:]), 1)


def category_colour(category_id: int) -> int:
    return category_id % PALETTE_SIZE


@member_required(*APPROVERS)
def dashboard(request, membership):
    month = request.GET.get("month", "")
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        month = membership.organization.today().strftime("%Y-%m")
    rows = queries.expense_summary_by_month(membership.organization_id, month)
    budgets = queries.budget_usage(membership, month)
    trend_months, trend_rows = queries.spend_trend(membership.organization_id, month)
    locale = membership.organization.locale
    return render(request, "expenses/dashboard.html", {
        "month": month, "month_start": month_start(month), "rows": rows, "budgets": budgets,
        "chart": spend_chart(budgets, rows, locale), "trend": trend_chart(trend_months, trend_rows, locale),
        "total": sum((r.approved_total for r in rows), Decimal("0")),
    })
