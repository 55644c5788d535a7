"""The manager dashboard: the month's spend by cost centre and category, from the read model
(``expenses.monthly_spend``), as a chart and a table, with each cost centre's budget used."""

from __future__ import annotations

import re
from collections import defaultdict
from decimal import Decimal

from django.shortcuts import render

from expenses import queries

from .base import APPROVERS, member_required

CHART_WIDTH = 960
LABEL_WIDTH = 80
VALUE_WIDTH = 190
BAR_HEIGHT = 26
ROW_HEIGHT = 40
PALETTE_SIZE = 6


def spend_chart(budgets: list[dict], rows: list) -> dict:
    """Geometry of a horizontal bar chart: per cost centre the budget as a track and the approved
    spend stacked by category on it. All numbers are computed here so the SVG template only
    places shapes (no inline script, nothing for the CSP to refuse)."""
    categories = sorted({row.category_name for row in rows if row.approved_total})
    colour = {name: i % PALETTE_SIZE for i, name in enumerate(categories)}
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
                             "title": f"{row.category_name}: {row.approved_total}"})
            x += width
        bars.append({"code": usage["cost_center"].code, "y": y, "text_y": y + 18, "used": usage["used"],
                     "budget": usage["budget"], "over": usage["used"] > usage["budget"],
                     "budget_width": round(float(usage["budget"]) * scale, 1), "segments": segments})
    return {"bars": bars, "width": CHART_WIDTH, "height": 16 + ROW_HEIGHT * len(bars), "label_width": LABEL_WIDTH,
            "value_x": CHART_WIDTH - 4, "legend": [{"name": name, "colour": colour[name]} for name in categories]}


@member_required(*APPROVERS)
def dashboard(request, membership):
    month = request.GET.get("month", "")
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        month = membership.organization.today().strftime("%Y-%m")
    rows = queries.expense_summary_by_month(membership.organization_id, month)
    budgets = queries.budget_usage(membership, month)
    return render(request, "expenses/dashboard.html", {
        "month": month, "rows": rows, "budgets": budgets, "chart": spend_chart(budgets, rows),
        "total": sum((r.approved_total for r in rows), Decimal("0")),
    })
