"""Browser tests: Playwright drives Debian's Chromium against the real stack (uvicorn with
websockets, a Celery worker and beat) on the test database."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.support import processes

CHROMIUM = "/usr/bin/chromium"
# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are plain
# synchronous code between browser steps.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    # The browser tests run together, after the others: the shared browser and stack are closed
    # after the last of them, so none may run again after a test that is not one (pytest's
    # reordering for fixtures of wider scope could otherwise split them).
    items[:] = [i for i in items if "browser" not in i.keywords] + [i for i in items if "browser" in i.keywords]
    if os.path.exists(CHROMIUM) or shutil.which("chromium"):
        return
    skip = pytest.mark.skip(reason=f"BROWSER TESTS SKIPPED: {CHROMIUM} is missing (apt-get install chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


# One browser and one stack for all the browser tests of a session, closed right after the last
# of them (``pytest_runtest_teardown`` below): Playwright's sync API keeps an event loop running in
# this thread while it is open, and later tests that use async_to_sync (the live consumer tests)
# must not see it.
_CLOSE: list = []


def _close_shared() -> None:
    while _CLOSE:
        _CLOSE.pop()()


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    if nextitem is None or "browser" not in nextitem.keywords:
        _close_shared()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    instance = playwright.chromium.launch(executable_path=CHROMIUM, args=[
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"])
    _CLOSE.append(playwright.stop)
    _CLOSE.append(instance.close)
    yield instance
    _close_shared()


@pytest.fixture(scope="session")
def stack(django_db_setup, django_db_blocker, tmp_path_factory):
    """uvicorn + worker + beat for the session's browser tests, on the test database; uploads go
    to a temp folder."""
    with django_db_blocker.unblock():
        media_root = str(tmp_path_factory.mktemp("media"))
        web = processes.WebProcess(MEDIA_ROOT=media_root)
        web.media_root = media_root  # a test that writes receipts itself puts their files here
        started: list = []
        worker = processes.start_worker(track=started)
        beat = processes.start_beat(track=started)

    def stop() -> None:
        for proc in (beat, worker):
            proc.stop()  # resumes a paused process first
        web.stop()

    # beat and the worker keep polling between tests: frozen between two of their transactions,
    # they cannot deadlock with the flush that empties the database after each test
    web.pause_bus = lambda: processes.pause_between_transactions(started)
    web.resume_bus = lambda: processes.resume(started)
    _CLOSE.insert(0, stop)  # stopped after the browser
    yield web
    _close_shared()


@pytest.fixture
def login(browser, stack, transactional_db):
    """Open a browser context logged in as a member (session cookie from Django's test client)."""
    from django.test import Client

    contexts = []
    stack.resume_bus()  # paused after the test before, across Django's flush

    def open_page(member, *, block_websocket: bool | str = False, width: int = 1280, height: int = 900):
        client = Client()
        client.force_login(member.user)
        context = browser.new_context(base_url=stack.url, viewport={"width": width, "height": height})
        if block_websocket == "network":  # every connection to /ws/ is closed at once; live.js keeps retrying
            context.route_web_socket("**/ws/**", lambda socket: socket.close(code=1011, reason="blocked"))
        elif block_websocket:  # a browser (or proxy) without websockets at all
            context.add_init_script("window.WebSocket = undefined;")
        context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value,
                              "url": stack.url}])
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()
    stack.pause_bus()
