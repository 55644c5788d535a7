"""``/metrics`` of a running stack (uvicorn, a real worker and beat, real Redis and PostgreSQL)
while one subscriber fails: its lag grows and its dead letters are counted, the other
subscribers stay at 0; without the token it is refused, without METRICS_TOKEN it is off."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis
from django.conf import settings
from django.db import transaction

from events.models import Delivery, DeliveryStatus
from events.publishing import publish
from tests.support.processes import wait_until
from tests.support.subscribers import Pinged

from .conftest import TOKEN
from .scrape import scrape, total, value

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _publish(n: int) -> None:
    with transaction.atomic():
        for i in range(n):
            publish(Pinged(key=f"m{i}"), organization_id=1)


def test_metrics_show_a_failing_subscribers_lag_and_dead_letters_and_need_the_token(
        effects, celery_processes, web_process, metrics_env):
    redis.Redis.from_url(settings.REDIS_URL).set("test:fail:test.flaky", "1")
    with ThreadPoolExecutor(3) as pool:  # the three start at once: each takes seconds
        started = [pool.submit(celery_processes.worker, **metrics_env),
                   pool.submit(celery_processes.beat, **metrics_env), pool.submit(web_process)]
    web = started[2].result()
    assert all(f.result() for f in started)
    # Without the token (or with another, or another scheme) it is refused and shows nothing.
    assert httpx.get(f"{web.url}/metrics").status_code == 401
    wrong = httpx.get(f"{web.url}/metrics", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401 and wrong.json()["code"] == "not_authenticated"
    assert "outlay_outbox" not in wrong.text
    assert httpx.get(f"{web.url}/metrics", headers={"Authorization": f"Token {TOKEN}"}).status_code == 401

    _publish(3)

    # test.record is done while test.flaky is still pending: its lag is there and grows.
    first = wait_until(lambda: (s := scrape(web.url, TOKEN)) and effects("test.record") == 3
                       and (value(s, "outlay_outbox_oldest_pending_seconds", subscriber="test.flaky") or 0) > 0
                       and s, interval=0.2, message="test.flaky pending with a lag")
    lag = value(first, "outlay_outbox_oldest_pending_seconds", subscriber="test.flaky")
    wait_until(lambda: (value(scrape(web.url, TOKEN), "outlay_outbox_oldest_pending_seconds",
                              subscriber="test.flaky") or 0) > lag, interval=0.2, message="the lag growing")

    wait_until(lambda: Delivery.objects.filter(subscriber="test.flaky", status=DeliveryStatus.DEAD).count() == 3,
               timeout=40, message="test.flaky's deliveries dead")
    samples = scrape(web.url, TOKEN)
    assert value(samples, "outlay_outbox_dead_letters", subscriber="test.flaky") == 3
    assert value(samples, "outlay_outbox_deliveries", subscriber="test.flaky", status="dead") == 3
    assert value(samples, "outlay_outbox_deliveries", subscriber="test.record", status="done") == 3
    others = {dict(lbls)["subscriber"]: v for (name, lbls), v in samples.items()
              if name == "outlay_outbox_dead_letters" and dict(lbls)["subscriber"] != "test.flaky"}
    assert "accounting.post_approved_expense" in others and set(others.values()) == {0}
    # Dead letters are not lag (what still waits now is the dead-letter events' own deliveries).
    assert value(samples, "outlay_outbox_oldest_pending_seconds", subscriber="test.flaky") == 0
    assert value(samples, "outlay_outbox_oldest_pending_seconds", subscriber="test.record") == 0
    # The worker process counted what it did, and /metrics of the web process adds it up.
    assert value(samples, "outlay_celery_workers_alive") == 1
    assert value(samples, "outlay_beat_heartbeat_age_seconds") < 30
    assert value(samples, "celery_queue_length", queue_name="events") is not None
    assert total(samples, "django_http_responses_total_by_status_view_method_total", view="metrics", status="200") >= 2
    assert total(samples, "django_http_responses_total_by_status_view_method_total", view="metrics", status="401") == 3
    # The bus's own counts, from the worker and beat processes' multiprocess files.
    assert value(samples, "outlay_outbox_attempts_total", subscriber="test.flaky", outcome="dead") == 3
    assert value(samples, "outlay_outbox_attempts_total", subscriber="test.flaky", outcome="failed") == 3 * 3
    assert value(samples, "outlay_outbox_attempts_total", subscriber="test.record", outcome="ok") == 3
    assert value(samples, "outlay_outbox_delivery_seconds_count", subscriber="test.record") == 3
    assert value(samples, "outlay_outbox_delivery_seconds_count", subscriber="test.flaky") is None  # none done
    # Every retry came due through the sweeper (a resent message may claim other due retries of
    # the same subscriber with it, so there can be fewer resends than retries).
    assert value(samples, "outlay_outbox_sweeper_resends_total", reason="retry") >= 1
    # No sample carries an id.
    assert not {k for (_, lbls) in samples for k, _ in lbls} & {"event_id", "delivery_id", "expense_id", "id"}


def test_metrics_are_off_without_a_token(client, settings):
    settings.METRICS_TOKEN = ""

    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything")

    assert response.status_code == 404
