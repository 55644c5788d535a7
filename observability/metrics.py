"""Prometheus metrics: the instruments that processes update, and the gauges read at scrape time.

Processes (uvicorn, Celery prefork children, beat) count into ``prometheus_client``'s
multiprocess files under ``PROMETHEUS_MULTIPROC_DIR`` (set and emptied by whatever starts them:
``config.launch``, the test fixtures); ``/metrics`` on any web process adds them all up. Gauges
that describe the state of the database or the broker (the outbox per subscriber, queue lengths,
business totals) are not kept by any process: ``OutboxCollector`` and ``BusinessCollector`` read
them with a few grouped queries when Prometheus scrapes, so they are right after any restart.

No label ever carries an id (expense, event, delivery, organisation): label values are
subscriber names, statuses, queue names, view names, methods and status codes, all bounded.
"""

from __future__ import annotations

import os
import time

from django.conf import settings
from django.db.models import Count, Sum
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY, Collector

# --- HTTP, named as django-prometheus names them -------------------------------------------------
HTTP_RESPONSES = Counter(
    "django_http_responses_total_by_status_view_method", "Responses by status, view and method.",
    ["status", "view", "method"])
HTTP_LATENCY = Histogram(
    "django_http_requests_latency_seconds_by_view_method", "Request latency by view and method.",
    ["view", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, float("inf")))

# --- Celery, named as celery-exporter names them ---------------------------------------------------
TASK_FAILURES = Counter("celery_task_failed_total", "Celery tasks that raised.", ["name", "exception"])


def enabled() -> bool:
    """Metrics are on when ``METRICS_TOKEN`` is set (``/metrics`` is 404 otherwise)."""
    return bool(settings.METRICS_TOKEN)


class HttpMetricsMiddleware:
    """Counts every response by status, resolved view name and method, and times it.

    The view is the URL pattern's name (``expense-approve``), never the path, so an id in a URL
    never becomes a label; an unresolved path is ``<unresolved>``."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = (match.view_name or "<unnamed view>") if match else "<unresolved>"
        method = request.method if request.method in _METHODS else "other"
        HTTP_LATENCY.labels(view, method).observe(time.perf_counter() - started)
        HTTP_RESPONSES.labels(str(response.status_code), view, method).inc()
        return response


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def connect_celery_signals() -> None:
    from celery.signals import task_failure

    task_failure.connect(_count_task_failure, weak=False, dispatch_uid="observability.task_failure")


def _count_task_failure(sender=None, exception=None, **_kwargs) -> None:
    if enabled():
        TASK_FAILURES.labels(getattr(sender, "name", "unknown"), type(exception).__name__).inc()


# --- read at scrape time ---------------------------------------------------------------------------
class OutboxCollector(Collector):
    """Per subscriber: deliveries by status, the lag (age of the oldest pending or in-flight
    delivery, 0 when none waits) and the dead letters. One grouped query (``status_counts``, the
    one the operations page shows)."""

    def collect(self):
        from events.queries import status_counts

        deliveries = GaugeMetricFamily("outlay_outbox_deliveries", "Outbox deliveries by subscriber and status.",
                                       labels=["subscriber", "status"])
        lag = GaugeMetricFamily("outlay_outbox_oldest_pending_seconds",
                                "Age of the oldest pending or in-flight delivery (0 when none waits).",
                                labels=["subscriber"])
        dead = GaugeMetricFamily("outlay_outbox_dead_letters", "Dead deliveries waiting for a replay.",
                                 labels=["subscriber"])
        for row in status_counts():
            for status in ("pending", "in_flight", "done", "dead"):
                deliveries.add_metric([row["subscriber"], status], row[status])
            lag.add_metric([row["subscriber"]], row["oldest_pending_seconds"] or 0.0)
            dead.add_metric([row["subscriber"]], row["dead"])
        yield from (deliveries, lag, dead)


class BusinessCollector(Collector):
    """Approvals, rejections and reimbursements paid are counted from the event log (immutable,
    so the count only grows: a true counter that survives restarts); payout totals from the
    confirmed payout batches, per currency."""

    def collect(self):
        from accounting.events import ReimbursementPaid
        from accounting.models import PayoutBatch
        from events.models import Event
        from expenses.events import ExpenseApproved, ExpenseRejected

        names = {ExpenseApproved.type: ("outlay_expenses_approved", "Expenses approved (last approval given)."),
                 ExpenseRejected.type: ("outlay_expenses_rejected", "Expenses rejected."),
                 ReimbursementPaid.type: ("outlay_reimbursements_paid", "Reimbursements confirmed paid.")}
        counts = dict(Event.objects.filter(type__in=names).values("type").annotate(n=Count("id"))
                      .values_list("type", "n"))
        for event_type, (name, text) in names.items():
            family = CounterMetricFamily(name, text)
            family.add_metric([], counts.get(event_type, 0))
            yield family
        paid = CounterMetricFamily("outlay_payouts_paid_amount", "Total of confirmed payout batches.",
                                   labels=["currency"])
        for currency, total in (PayoutBatch.objects.filter(state=PayoutBatch.State.CONFIRMED)
                                .values("currency").annotate(t=Sum("total")).values_list("currency", "t")):
            paid.add_metric([currency], float(total))
        yield paid


class QueueCollector(Collector):
    """Messages waiting per Celery queue on the broker (celery-exporter's name)."""

    def __init__(self, queues: list[str]) -> None:
        self.queues = queues

    def collect(self):
        from events.sending import broker_queue_length

        family = GaugeMetricFamily("celery_queue_length", "Messages waiting in a Celery queue.", labels=["queue_name"])
        for queue in self.queues:
            length = broker_queue_length(queue)
            if length is not None:
                family.add_metric([queue], length)
        yield family


def exposition(extra: list[Collector]) -> bytes:
    """The text exposition of every process's instruments plus the scrape-time collectors."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:  # one process (tests, manage.py): its own instruments
        registry = CollectorRegistry()
        registry.register(REGISTRY)
    for collector in extra:
        registry.register(collector)
    return generate_latest(registry)
