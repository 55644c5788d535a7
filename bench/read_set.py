"""The reads a manager makes most, ready to time: ``prepare()`` returns each as a callable that
makes one request through Django's full middleware stack (the test client: no HTTP server).

A manager with 20 expenses waiting (the employee reports to them, as in ``bench/run.py``'s
scenario 0): the floor (``bench.floor``), the approval queue (page and API), the expense page,
its status fragment (polled every 1.5 s while processing; also for an expense just approved, its
effects pending) and the expense over the API. Used by ``bench/profile_reads.py`` and, loaded by
path into another checkout's code, by ``bench/ab_reads.py``; it uses only what the project had at
3f2a5ea, so an older commit can be measured against this one."""

from __future__ import annotations

import os
from collections.abc import Callable

# As bench/stack.py does: at the default 1,200 a minute the API's reads were throttled, and a
# refused request is a fast one (a run of 300 profiled 33 answers of 429).
os.environ.setdefault("API_THROTTLE_USER", "1000000/minute")


NAMES = ("floor (bench.floor)", "approval queue (page)", "approval queue (API)", "expense page",
         "status fragment (page)", "status fragment, processing (page)", "GET expense (API)")


def prepare(slug: str = "profile-reads") -> dict[str, Callable]:
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import clear_url_caches
    from rest_framework.authtoken.models import Token

    from bench.floor import mount
    from bench.profile_data import profile_org
    from expenses import services
    from organizations.models import Membership, Role

    data = profile_org(slug)
    queue = data.submitted_expenses(21)
    extra = queue.pop()  # approved below; the queue stays 20
    manager = Membership.objects.create(user=get_user_model().objects.create_user(f"{slug}-manager"),
                                        organization=data.org, role=Role.MANAGER, reports_to=data.admin)
    Membership.objects.filter(pk=data.employee.pk).update(reports_to=manager)
    page = Client()
    page.force_login(manager.user, backend="organizations.authentication.MemberModelBackend")
    api = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=manager.user).key}")
    one = queue[0].pk
    # an expense just approved, its six effects still pending: the fragment as it is polled
    decided = services.expense_approve(actor=manager, expense_id=extra.pk).pk
    mount()  # the bare endpoint, the reference of make bench's multiples
    clear_url_caches()
    return dict(zip(NAMES, (
        lambda: api.get(f"/bench/floor/{one}/"),
        lambda: page.get("/approvals/"),
        lambda: api.get("/api/v1/expenses/awaiting-approval/"),
        lambda: page.get(f"/expenses/{one}/"),
        lambda: page.get(f"/expenses/{one}/status/"),
        lambda: page.get(f"/expenses/{decided}/status/"),
        lambda: api.get(f"/api/v1/expenses/{one}/"),
    ), strict=True))
