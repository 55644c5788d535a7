"""``GET /metrics``: the Prometheus text exposition, for a scraper holding ``METRICS_TOKEN``.

Off (404) when ``METRICS_TOKEN`` is unset; without ``Authorization: Bearer <token>``, or with
another token, 401 in the one error shape. What it exports is described in
``observability.metrics`` and the README.
"""

from __future__ import annotations

import hmac
import time

import redis
from django.conf import settings
from django.http import Http404, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from config.celery import HEARTBEAT_KEY, WORKER_NODES_KEY, app
from observability.metrics import BusinessCollector, OutboxCollector, QueueCollector, exposition

from .health import HEARTBEAT_MAX_AGE


class HeartbeatCollector(Collector):
    """Worker nodes alive (heartbeat within ``HEARTBEAT_MAX_AGE``) and the age of beat's last
    heartbeat (+Inf when none is known), from the heartbeats ``config.celery`` writes."""

    def collect(self):
        workers = GaugeMetricFamily("outlay_celery_workers_alive", "Celery worker nodes with a recent heartbeat.")
        beat = GaugeMetricFamily("outlay_beat_heartbeat_age_seconds", "Seconds since Celery beat's last heartbeat.")
        now = time.time()
        try:
            client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
            try:
                client.zremrangebyscore(WORKER_NODES_KEY, "-inf", now - 3600)  # long gone nodes
                workers.add_metric([], client.zcount(WORKER_NODES_KEY, now - HEARTBEAT_MAX_AGE, "+inf"))
                raw = client.get(HEARTBEAT_KEY.format(role="beat"))
                beat.add_metric([], now - float(raw) if raw else float("inf"))
            finally:
                client.close()
        except redis.RedisError:
            return  # no sample: the scrape still answers, the alert on absence fires
        yield from (workers, beat)


def _queues() -> list[str]:
    from events.registry import FANOUT_QUEUE, subscribers

    return sorted({app.conf.task_default_queue, FANOUT_QUEUE, *(s.queue for s in subscribers().values())})


def _authorised(request) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), settings.METRICS_TOKEN.encode())


@require_GET
@never_cache
def metrics(request):
    if not settings.METRICS_TOKEN:
        raise Http404("metrics are off")
    if not _authorised(request):
        response = JsonResponse({"code": "not_authenticated", "message": "A bearer token is required.",
                                 "details": {}}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body = exposition([OutboxCollector(), BusinessCollector(), QueueCollector(_queues()), HeartbeatCollector()])
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
