"""Regenerate the README's screenshots: `make screenshots`.

Runs on throw-away services (config.embedded --ephemeral): migrates, loads the demo data,
starts web + worker + beat, and photographs the main pages as the demo users see them.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "screenshots"
PAGES = [
    ("maria", "/approvals/", "approval-queue"),
    ("maria", "/dashboard/", "dashboard"),
    ("eve", "/expenses/", "my-expenses"),
    ("eve", "/expenses/new/", "new-expense"),
    ("finance", "/finance/batches/", "payout-batches"),
    ("finance", "/finance/trial-balance/", "trial-balance"),
    ("admin", "/ops/", "operations"),
    ("maria", "/notifications/", "notifications"),
]


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from bench.stack import Stack

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
            browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            for username, path, name in PAGES:
                context = browser.new_context(base_url=stack.url, viewport={"width": 1280, "height": 800})
                page = context.new_page()
                page.goto("/login/")
                page.fill("#id_username", username)
                page.fill("#id_password", "outlay-demo")
                page.click("button[type=submit]")
                page.goto(path)
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
                context.close()
                print(f"wrote docs/screenshots/{name}.png")
            # the manager's detail page of an expense waiting for approval
            context = browser.new_context(base_url=stack.url, viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.goto("/login/")
            page.fill("#id_username", "maria")
            page.fill("#id_password", "outlay-demo")
            page.click("button[type=submit]")
            page.goto("/approvals/")
            page.click("table a >> nth=0")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(OUT / "expense-detail.png"), full_page=True)
            print("wrote docs/screenshots/expense-detail.png")
            browser.close()
    finally:
        stack.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
