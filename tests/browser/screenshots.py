"""Regenerate the README's screenshots: `make screenshots`.

Runs on throw-away services (config.embedded --ephemeral): migrates, loads the demo data,
starts web + worker + beat, and photographs the main pages as the demo users see them —
including an approval watched live until every effect has landed, and a phone-width view.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
PAGES = [  # (user, path, file name)
    ("maria", "/approvals/", "approval-queue"),
    ("maria", "/dashboard/", "dashboard"),
    ("eve", "/expenses/", "my-expenses"),
    ("eve", "/expenses/new/", "new-expense"),
    ("finance", "/finance/reimbursements/", "reimbursements"),
    ("finance", "/finance/batches/", "payout-batches"),
    ("finance", "/finance/trial-balance/", "trial-balance"),
    ("admin", "/ops/", "operations"),
    ("admin", "/ops/catalogue/", "event-catalogue"),
    ("maria", "/notifications/", "notifications"),
    ("admin", "/policy/", "policy"),
]
PHONE_PAGES = [  # lists become cards at 390 px: amount and state in view, the navigation wraps
    ("eve", "/expenses/", "my-expenses-phone"),
    ("maria", "/approvals/", "approval-queue-phone"),
]


def _login(browser, url: str, username: str, viewport=DESKTOP):
    context = browser.new_context(base_url=url, viewport=viewport, device_scale_factor=1)
    page = context.new_page()
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "outlay-demo")
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return context, page


def _shoot(page, name: str) -> None:
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
    print(f"wrote docs/screenshots/{name}.png")


def _open_first_waiting(page) -> None:
    page.goto("/approvals/")
    page.click("table tbody tr:first-child a")
    page.wait_for_selector("#expense-status [data-state='submitted']")
    page.wait_for_load_state("networkidle")


def main() -> int:
    sys.path.insert(0, str(ROOT))
    import bench.stack
    from bench.stack import Stack

    bench.stack.LOGS = ROOT / "var" / "screenshot-logs"  # the process logs are not benchmark results
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    stack = Stack()
    stack.start_services()
    try:
        stack.manage("migrate", "--no-input", "-v", "0")
        stack.manage("seed_demo")
        stack.start_web(OUTLAY_EXTRA_SUBSCRIBERS="")
        stack.start_workers(OUTLAY_EXTRA_SUBSCRIBERS="")
        stack.start_beat(OUTLAY_EXTRA_SUBSCRIBERS="")
        time.sleep(5)  # let the demo's side effects land
        OUT.mkdir(parents=True, exist_ok=True)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            context = browser.new_context(base_url=stack.url, viewport=DESKTOP)
            page = context.new_page()
            page.goto("/login/")
            _shoot(page, "login")
            context.close()
            for username, path, name in PAGES:
                context, page = _login(browser, stack.url, username)
                page.goto(path)
                page.wait_for_load_state("networkidle")
                _shoot(page, name)
                context.close()

            for username, path, name in PHONE_PAGES:
                context, page = _login(browser, stack.url, username, viewport=PHONE)
                page.goto(path)
                page.wait_for_load_state("networkidle")
                _shoot(page, name)
                context.close()

            context, page = _login(browser, stack.url, "maria")
            _open_first_waiting(page)
            _shoot(page, "expense-detail")
            page.click("#approve-button")  # watched live: processing, each effect, then approved
            page.wait_for_selector("#expense-status [data-state='approved']", timeout=30000)
            page.wait_for_load_state("networkidle")
            _shoot(page, "expense-approved")
            context.close()

            context, page = _login(browser, stack.url, "maria", viewport=PHONE)
            _open_first_waiting(page)
            _shoot(page, "expense-detail-phone")
            context.close()
            browser.close()
    finally:
        stack.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
