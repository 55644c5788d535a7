"""Outbound webhooks end to end: real PostgreSQL, Redis, a bus worker, a webhooks worker (threads
pool, as in the Procfile) and beat, and a real receiver on 127.0.0.1 that verifies every request
with the ``standardwebhooks`` library and deduplicates on ``webhook-id``.

The workers are started once for the module (with a short retry schedule and a 1 s timeout); each
test builds its own organisation, endpoint and receiver, and the database is emptied between tests.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from expenses import services as expense_services
from expenses.tests.factories import make_team
from notifications.models import Notification
from tests.support import processes
from tests.support.processes import wait_until
from tests.support.receiver import Answer, Receiver
from webhooks import services
from webhooks.models import Endpoint, WebhookAttempt, WebhookDelivery, WebhookStatus

# The first test also pays for the database and three processes starting (slow on a loaded machine).
pytestmark = [pytest.mark.worker, pytest.mark.timeout(300)]

WEBHOOK_ENV = {
    "WEBHOOK_ALLOW_HTTP": "1",
    "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "1",  # the receiver is on loopback
    # short, and long enough in tries that a slow machine does not run a held webhook out of them
    "WEBHOOK_RETRY_SCHEDULE": "0,0.3,0.3,0.3,0.3,0.3,0.5,0.5,1,1,1,1,2,2,2,2",
    "WEBHOOK_RETRY_JITTER": "0",
    "WEBHOOK_TIMEOUT_SECONDS": "1",
    "WEBHOOK_LEASE_MARGIN_SECONDS": "1",
    "WEBHOOK_SCHEDULE_SECONDS": "1",  # retries wait for beat; first sends are kicked at commit
    "WEBHOOK_BREAKER_THRESHOLD": "5",
    "WEBHOOK_BREAKER_COOLDOWN_SECONDS": "30",
}


class Stack:
    def __init__(self) -> None:
        self.started: list[processes.CeleryProcess] = []
        self.bus = processes.start_worker(queues="default,events,fanout", track=self.started, ready_timeout=90,
                                          **WEBHOOK_ENV)
        self.webhooks = self.start_webhooks_worker()
        self.beat = processes.start_beat(track=self.started, **WEBHOOK_ENV)

    def start_webhooks_worker(self) -> processes.CeleryProcess:
        return processes.start_worker(queues="webhooks", pool="threads", concurrency=8, track=self.started,
                                      ready_timeout=90, **WEBHOOK_ENV)

    def pause(self) -> None:
        processes.pause_between_transactions(self.started)

    def resume(self) -> None:
        processes.resume(self.started)

    def stop(self) -> None:
        for proc in reversed(self.started):
            proc.stop()


@pytest.fixture(scope="module")
def stack(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        running = Stack()
    yield running
    running.stop()


@pytest.fixture
def webhooks_env(stack, transactional_db, fast_bus, settings):
    for name, value in WEBHOOK_ENV.items():
        setattr(settings, name, value == "1" if name.startswith("WEBHOOK_ALLOW") else value)
    settings.WEBHOOK_RETRY_SCHEDULE = [float(s) for s in WEBHOOK_ENV["WEBHOOK_RETRY_SCHEDULE"].split(",")]
    stack.resume()  # paused by the test before, across Django's flush
    yield stack
    _quiesce()
    # beat and the workers keep polling on their schedule: frozen between two of their
    # transactions, they cannot deadlock with the flush that empties the database after this
    stack.pause()


def _quiesce() -> None:
    """The workers outlive the test: before the database is emptied, stop new sends and let the
    bus settle, so the flush does not meet a worker's transaction (a lock-order deadlock)."""
    from events.models import Delivery

    Endpoint.objects.update(enabled=False)
    processes.wait_until(lambda: not Delivery.objects.filter(status__in=["pending", "in_flight"]).exists()
                         and not WebhookDelivery.objects.filter(status=WebhookStatus.SENDING).exists(),
                         timeout=30, message="the bus and the senders idle")


@pytest.fixture
def receivers():
    made: list[Receiver] = []

    def make(secrets=None, answer=None) -> Receiver:
        receiver = Receiver(secrets, answer)
        made.append(receiver)
        return receiver

    yield make
    for receiver in made:
        receiver.stop()


def _endpoint(team, url, event_types=()):
    return services.endpoint_create(organization_id=team.org.pk, created_by_id=team.admin.user_id, url=url,
                                    event_types=list(event_types))


def _approve(team, employee=None):
    expense = team.expense(submit=True, employee=employee)
    return expense_services.expense_approve(actor=team.manager, expense_id=expense.pk)


def _settled(endpoint, count):
    """``count`` webhooks of the endpoint exist and none is still in line."""
    rows = WebhookDelivery.objects.filter(endpoint=endpoint)
    return rows.count() == count and not rows.filter(
        status__in=[WebhookStatus.PENDING, WebhookStatus.SENDING, WebhookStatus.FAILED]).exists()


def test_an_approval_reaches_the_receiver_once_correctly_signed(webhooks_env, receivers):
    team = make_team()
    receiver = receivers()
    endpoint, secret = _endpoint(team, receiver.url, ["expense.approved"])
    receiver.secrets = [secret]

    expense = _approve(team)

    wait_until(lambda: _settled(endpoint, 1), message="the approval's webhook delivered")
    (call,) = receiver.calls
    assert call.verified_with == [0]
    document = call.document
    assert document["type"] == "expense.approved"
    assert document["data"]["aggregate"] == {"type": "expense", "id": str(expense.pk), "sequence": 2}
    assert document["data"]["payload"]["expense_id"] == str(expense.pk)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == WebhookStatus.DELIVERED and call.webhook_id == delivery.webhook_id
    assert document["data"]["event_id"] == str(delivery.event_id)
    (attempt,) = WebhookAttempt.objects.filter(delivery=delivery)
    assert attempt.status_code == 200 and attempt.duration_ms is not None and attempt.response_body == "ok"
    # the submission was not asked for, so it was not sent
    assert WebhookDelivery.objects.filter(event_type="expense.submitted").count() == 0


def test_during_a_rotation_both_secrets_sign_and_verify(webhooks_env, receivers):
    team = make_team()
    receiver = receivers()
    endpoint, old = _endpoint(team, receiver.url)
    new = services.endpoint_rotate_secret(endpoint=endpoint)
    receiver.secrets = [old, new]

    services.endpoint_send_test(endpoint=endpoint, user_id=team.admin.user_id)

    wait_until(lambda: receiver.accepted, message="the test webhook")
    (call,) = receiver.calls
    assert call.verified_with == [0, 1]
    assert len(call.headers["webhook-signature"].split(" ")) == 2
    assert call.document["type"] == "webhook.test"
    # after the overlap only the new secret signs
    services.endpoint_rotate_secret(endpoint=endpoint, overlap_seconds=0)
    assert services.signing_secrets(endpoint.pk, timezone.now())[0] != new
    assert len(services.signing_secrets(endpoint.pk, timezone.now())) == 1


def test_500_500_200_is_three_tries_of_one_webhook_accepted_once(webhooks_env, receivers):
    team = make_team()
    receiver = receivers(answer=lambda call: Answer(500 if call.number <= 2 else 200))
    endpoint, secret = _endpoint(team, receiver.url, ["expense.approved"])
    receiver.secrets = [secret]

    _approve(team)

    wait_until(lambda: _settled(endpoint, 1), message="delivered after two failures")
    assert [c.answered for c in receiver.calls] == [500, 500, 200]
    assert len({c.webhook_id for c in receiver.calls}) == 1
    assert len(receiver.accepted) == 1
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert list(delivery.attempt_log.values_list("status_code", flat=True)) == [500, 500, 200]
    assert delivery.status == WebhookStatus.DELIVERED


def test_410_disables_the_endpoint_and_tells_the_admins(webhooks_env, receivers):
    team = make_team()
    receiver = receivers(answer=lambda call: Answer(410))
    endpoint, secret = _endpoint(team, receiver.url, ["expense.approved"])
    receiver.secrets = [secret]

    _approve(team)

    wait_until(lambda: Notification.objects.filter(recipient_id=team.admin.user_id,
                                                   title__startswith="Webhook endpoint disabled").exists(),
               message="the admins told")
    endpoint.refresh_from_db()
    assert not endpoint.enabled and "410" in endpoint.disabled_reason
    assert WebhookDelivery.objects.get(endpoint=endpoint).status == WebhookStatus.DEAD
    assert len(receiver.calls) == 1
    # a disabled endpoint gets no new webhooks
    _approve(team, employee=team.colleague)
    wait_until(lambda: Notification.objects.filter(recipient_id=team.colleague.user_id).exists(),
               message="the second approval's other effects")
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 1


def test_400_is_dead_at_once_without_retries(webhooks_env, receivers):
    team = make_team()
    receiver = receivers(answer=lambda call: Answer(400, body=b'{"error": "unknown field"}'))
    endpoint, secret = _endpoint(team, receiver.url, ["expense.approved"])
    receiver.secrets = [secret]

    _approve(team)

    wait_until(lambda: _settled(endpoint, 1), message="the refused webhook settled")
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == WebhookStatus.DEAD and delivery.attempts == 1
    assert delivery.attempt_log.get().response_body == '{"error": "unknown field"}'
    assert len(receiver.calls) == 1
    endpoint.refresh_from_db()
    assert endpoint.enabled


def test_429_with_retry_after_7_schedules_the_next_try_at_least_7_s_later(webhooks_env, receivers):
    team = make_team()
    receiver = receivers(answer=lambda call: Answer(429, headers={"Retry-After": "7"}))
    endpoint, secret = _endpoint(team, receiver.url, ["expense.approved"])
    receiver.secrets = [secret]

    _approve(team)

    first = wait_until(lambda: WebhookAttempt.objects.filter(delivery__endpoint=endpoint,
                                                             finished_at__isnull=False).first(), message="one try")
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert first.status_code == 429 and first.retry_after_seconds == 7
    assert delivery.status == WebhookStatus.FAILED
    assert delivery.next_attempt_at >= first.finished_at + dt.timedelta(seconds=7)  # the schedule alone says 0.3 s
    assert len(receiver.calls) == 1


def test_a_receiver_that_hangs_is_timed_out_recorded_and_retried(webhooks_env, receivers):
    team = make_team()
    receiver = receivers(answer=lambda call: Answer(503, delay=3) if call.number == 1 else Answer(200))
    endpoint, secret = _endpoint(team, receiver.url, ["expense.approved"])
    receiver.secrets = [secret]

    _approve(team)

    wait_until(lambda: _settled(endpoint, 1), message="delivered after a timeout")
    first, second = WebhookDelivery.objects.get(endpoint=endpoint).attempt_log.order_by("number")
    assert first.outcome == "failed" and first.status_code is None and "timeout" in first.error
    assert second.status_code == 200
    assert len(receiver.accepted) == 1


def _five_events(team, employee):
    """submitted, withdrawn, submitted, withdrawn, submitted: sequences 1-5 of one expense."""
    expense = team.expense(submit=True, employee=employee)
    for _ in range(2):
        expense_services.expense_withdraw(actor=employee, expense_id=expense.pk)
        expense_services.expense_submit(actor=employee, expense_id=expense.pk, confirm_not_duplicate=True)
    return expense


def test_one_expenses_webhooks_arrive_in_order_while_another_expense_is_not_held_up(webhooks_env, receivers):
    team = make_team()
    held = {"expense": None, "other": None}

    def answer(call):
        data = call.document["data"]
        if (data["aggregate"]["id"] == held["expense"] and data["aggregate"]["sequence"] == 2
                and held["other"] not in receiver.accepted_ids()):
            return Answer(500)  # fails the second webhook until the other expense's has arrived
        return Answer(200)

    receiver = receivers(answer=answer)
    receiver.accepted_ids = lambda: {d["data"]["aggregate"]["id"] for d in receiver.accepted.values()}
    endpoint, secret = _endpoint(team, receiver.url, ["expense.submitted", "expense.withdrawn"])
    receiver.secrets = [secret]

    held["expense"] = "pending"
    expense = _five_events(team, team.employee)
    held["expense"] = str(expense.pk)
    wait_until(lambda: any(c.answered == 500 for c in receiver.calls), message="the second webhook failing")
    other = team.expense(submit=True, employee=team.colleague)
    held["other"] = str(other.pk)

    wait_until(lambda: _settled(endpoint, 6), timeout=90, message="all six webhooks delivered")
    assert set(WebhookDelivery.objects.filter(endpoint=endpoint).values_list("status", flat=True)) == {"delivered"}
    mine = [d for d in (receiver.accepted[i] for i in receiver.accepted_order)
            if d["data"]["aggregate"]["id"] == str(expense.pk)]
    assert [d["data"]["aggregate"]["sequence"] for d in mine] == [1, 2, 3, 4, 5]
    order = [receiver.accepted[i]["data"]["aggregate"]["id"] for i in receiver.accepted_order]
    places_of_mine = [place for place, aggregate in enumerate(order) if aggregate == str(expense.pk)]
    assert order.index(str(other.pk)) < places_of_mine[1]  # it went while #2 was failing
    # nothing of the expense after #2 was even sent before #2 was accepted
    second = next(c.number for c in receiver.calls if c.answered == 200
                  and c.document["data"]["aggregate"] == {"type": "expense", "id": str(expense.pk), "sequence": 2})
    assert all(c.document["data"]["aggregate"]["sequence"] <= 2 for c in receiver.calls
               if c.number < second and c.document["data"]["aggregate"]["id"] == str(expense.pk))


def test_a_dead_endpoint_does_not_slow_a_healthy_one(webhooks_env, receivers):
    team = make_team()
    healthy = receivers()
    good, secret = _endpoint(team, healthy.url, ["expense.submitted"])
    healthy.secrets = [secret]
    dead = receivers()
    dead_url = dead.url
    dead.stop()  # nothing listens there any more: connection refused
    bad, _ = _endpoint(team, dead_url, ["expense.submitted"])

    for _ in range(10):
        team.expense(submit=True)

    wait_until(lambda: _settled(good, 10), message="the healthy endpoint's ten webhooks")
    assert len(healthy.accepted) == 10
    # every healthy webhook went on its first try: none waited behind the dead endpoint's retries
    assert set(WebhookDelivery.objects.filter(endpoint=good).values_list("attempts", flat=True)) == {1}
    wait_until(lambda: Endpoint.objects.get(pk=bad.pk).breaker_open_until is not None, message="the breaker open")
    tries_at_dead = WebhookAttempt.objects.filter(delivery__endpoint=bad).count()
    # the breaker opened after 5 consecutive failures; at most 4 more were already in flight
    assert 5 <= tries_at_dead <= 5 + 4


def test_a_worker_killed_mid_send_resends_with_the_same_webhook_id_accepted_once(webhooks_env, receivers):
    team = make_team()
    # The first request is accepted and its answer held back: the worker dies before it records it.
    receiver = receivers(answer=lambda call: Answer(200, delay=5 if call.number == 1 else 0))
    endpoint, secret = _endpoint(team, receiver.url, ["expense.approved"])
    receiver.secrets = [secret]

    _approve(team)
    wait_until(lambda: receiver.calls, message="the first request in flight")
    webhooks_env.webhooks.kill()
    webhooks_env.webhooks = webhooks_env.start_webhooks_worker()

    wait_until(lambda: _settled(endpoint, 1), timeout=40, message="sent again by the new worker")
    # Usually two calls: the one the killed worker never recorded, and the new worker's. Under the
    # split suite's load the kill can come after the first call's 1 s timeout, when the old worker
    # has already recorded it as failed and sent again (seen once: three calls). Either way every
    # call carries the same webhook-id and the receiver accepts one.
    calls = receiver.calls
    assert len(calls) >= 2 and {call.webhook_id for call in calls} == {calls[0].webhook_id}
    assert len(receiver.accepted) == 1 and receiver.duplicates == len(calls) - 1
    outcomes = list(WebhookDelivery.objects.get(endpoint=endpoint).attempt_log.values_list("outcome", flat=True))
    assert len(outcomes) >= 2 and outcomes[-1] == "ok" and set(outcomes[:-1]) <= {"lost", "failed"}


def test_replay_since_a_time_resends_exactly_that_window(webhooks_env, receivers):
    team = make_team()
    receiver = receivers()
    endpoint, secret = _endpoint(team, receiver.url, ["expense.submitted"])
    receiver.secrets = [secret]
    before = [team.expense(submit=True) for _ in range(3)]
    wait_until(lambda: _settled(endpoint, 3), message="the first three")
    since = timezone.now()
    after = [team.expense(submit=True, employee=team.colleague) for _ in range(2)]
    wait_until(lambda: _settled(endpoint, 5), message="all five")
    assert len(receiver.calls) == 5

    assert services.endpoint_replay(endpoint=endpoint, since=since) == 2

    wait_until(lambda: len(receiver.calls) == 7 and _settled(endpoint, 5), message="the window re-sent")
    resent = [c.document["data"]["aggregate"]["id"] for c in receiver.calls[5:]]
    assert sorted(resent) == sorted(str(e.pk) for e in after)
    assert not set(resent) & {str(e.pk) for e in before}
    assert receiver.duplicates == 2 and len(receiver.accepted) == 5
