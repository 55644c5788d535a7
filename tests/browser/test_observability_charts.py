"""The operations page's lag, throughput and dead-letter charts and the dashboard's 12-month
spend trend render with data, under the CSP, at desktop width, at 390 px and for print."""

from __future__ import annotations

import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from events.models import Delivery
from events.publishing import publish
from events.running import run_delivery
from expenses.models import MonthlySpend
from expenses.queries import months_ending
from expenses.tests.factories import make_team
from observability.models import OutboxMinute
from observability.rollup import roll_up
from organizations.tests.factories import CostCenterFactory
from tests.support import processes
from tests.support.subscribers import Pinged

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# `OUTLAY_SCREENSHOTS=docs/screenshots` keeps the pictures for the README; otherwise they go to tmp.
SCREENSHOTS = os.environ.get("OUTLAY_SCREENSHOTS")
MONTH = "2026-06"  # the dashboard is asked for this month: the picture is the same on any day


@pytest.fixture(scope="module")
def web(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        server = processes.WebProcess()
    yield server
    server.stop()


def _page(browser, web, member, viewport):
    client = Client()
    client.force_login(member.user)
    context = browser.new_context(base_url=web.url, viewport=viewport)
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": web.url}])
    page = context.new_page()
    refused = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    return page, refused


def _shot(page, tmp_path, name: str) -> Path:
    folder = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


def test_operations_page_draws_lag_throughput_and_dead_letters(browser, web, effects, tmp_path):
    team = make_team()
    with transaction.atomic():
        for i in range(4):
            publish(Pinged(key=f"chart{i}"), organization_id=team.org.pk)
    for delivery_id in Delivery.objects.values_list("pk", flat=True):
        run_delivery(delivery_id)
    roll_up(now=timezone.now() + timedelta(minutes=1))  # the minute those deliveries were done in
    now = timezone.now().replace(second=0, microsecond=0)
    for minutes_ago in range(2, 23 * 60, 7):  # a day of earlier history: a backlog an hour ago
        OutboxMinute.objects.create(minute=now - timedelta(minutes=minutes_ago), organization_id=team.org.pk,
                                    subscriber="test.record", done=30 + minutes_ago % 11,
                                    lag_seconds=90.0 if 50 <= minutes_ago <= 70 else 0.5,
                                    dead=2 if minutes_ago > 300 else 0)

    page, refused = _page(browser, web, team.admin, {"width": 1280, "height": 900})
    page.goto("/ops/")

    record = page.locator('#outbox-history figure[data-subscriber="test.record"]')
    assert record.locator("svg").count() == 4  # lag and done, last hour and last day
    lag_hour = record.locator("svg").nth(0)
    assert float(lag_hour.get_attribute("data-peak")) == 90.0
    assert "peak 90.0s" in record.inner_text()
    done_hour = record.locator("svg").nth(1)
    assert float(done_hour.get_attribute("data-peak")) >= 4  # the 4 real deliveries, or the history
    assert page.locator('#outbox-history figure[data-subscriber="accounting.post_approved_expense"] svg').count() == 4
    dead = page.locator('figure[data-chart="dead-letters"] svg')
    assert float(dead.nth(1).get_attribute("data-peak")) == 2.0  # over the day
    assert refused == []
    _shot(page, tmp_path, "operations-charts")

    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert record.locator("svg").nth(0).bounding_box()["width"] > 150
    page.emulate_media(media="print")
    assert record.locator("svg").nth(0).is_visible()


def test_dashboard_shows_twelve_months_of_spend_by_cost_centre(browser, web, tmp_path):
    team = make_team()
    second = CostCenterFactory(organization=team.org, code="OPS", monthly_budget=Decimal("3000.00"))
    months = months_ending(MONTH, 12)
    for i, month in enumerate(months):
        for cost_center, amount in ((team.cost_center, 400 + 50 * i), (second, 900 - 40 * i)):
            MonthlySpend.objects.create(organization_id=team.org.pk, month=month, cost_center_id=cost_center.pk,
                                        cost_center_code=cost_center.code, category_id=team.category.pk,
                                        category_name=team.category.name, approved_count=1,
                                        approved_total=Decimal(amount))
    MonthlySpend.objects.create(organization_id=team.org.pk, month="2025-01", cost_center_id=second.pk,
                                cost_center_code="OPS", category_id=team.category.pk,
                                category_name=team.category.name, approved_total=Decimal("99999"))  # too old

    page, refused = _page(browser, web, team.manager, {"width": 1280, "height": 900})
    page.goto(f"/dashboard/?month={MONTH}")

    trend = page.locator("#spend-trend svg.trend")
    columns = trend.locator("g.month")
    assert columns.count() == 12
    assert columns.first.get_attribute("data-month") == "2025-07"
    assert columns.last.get_attribute("data-month") == MONTH
    assert columns.last.locator("rect").count() == 2  # stacked: both cost centres
    assert columns.last.locator("text.value").text_content() == f"{400 + 50 * 11 + 900 - 40 * 11:,}"  # en_GB
    assert "99999" not in trend.inner_html()
    legend = page.locator("#spend-trend .legend").inner_text()
    assert "OPS" in legend and team.cost_center.code in legend
    assert page.locator("svg.chart").count() == 2  # beside this month's budget bars
    assert refused == []
    _shot(page, tmp_path, "dashboard-trend")

    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert trend.is_visible()
    page.emulate_media(media="print")
    assert trend.bounding_box()["width"] > 300
