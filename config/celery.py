"""The Celery app (worker and beat). Settings come from Django settings, prefix ``CELERY_``."""

from __future__ import annotations

import contextlib
import os
import threading
import time

from celery import Celery
from celery.signals import beat_init, task_postrun, task_prerun, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("outlay")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Celery's Django fixup closes every database connection before and after each task, unless
# CELERY_DB_REUSE_MAX is set (read under that literal name): a new PostgreSQL backend for every
# task, 12% of a worker's samples under py-spy (issue 9). Its reuse mode instead never
# closes a connection that broke (a PostgreSQL restart) until the count runs out. So the fixup's
# count is made endless and each task starts and ends with Django's own rule, as a request does:
# close the connection if it errored or is older than CONN_MAX_AGE, and health-check it on reuse.
app.conf.update({"CELERY_DB_REUSE_MAX": 2**62})


@task_prerun.connect
@task_postrun.connect
def _recycle_database_connections(**_kwargs) -> None:
    from django.db import close_old_connections

    close_old_connections()

HEARTBEAT_KEY = "outlay:heartbeat:{role}"
# Every worker node's last heartbeat by node name (a sorted set scored by time): `/metrics`
# counts the nodes alive from it.
WORKER_NODES_KEY = "outlay:heartbeat:worker-nodes"
HEARTBEAT_EVERY = 5.0


def _beat_forever(role: str, node: str | None) -> None:
    """Write a heartbeat to Redis every few seconds; `/readyz` judges liveness by its age."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=2)
    while True:
        # Redis down: the heartbeat goes stale, which is what /readyz should see.
        with contextlib.suppress(redis.RedisError):
            now = time.time()
            client.set(HEARTBEAT_KEY.format(role=role), str(now), ex=60)
            if node:
                client.zadd(WORKER_NODES_KEY, {node: now})
        time.sleep(HEARTBEAT_EVERY)


def start_heartbeat(role: str, node: str | None = None) -> None:
    threading.Thread(target=_beat_forever, args=(role, node), name=f"{role}-heartbeat", daemon=True).start()


@worker_ready.connect
def _worker_heartbeat(sender=None, **_kwargs) -> None:
    start_heartbeat("worker", getattr(sender, "hostname", None))


@beat_init.connect
def _beat_heartbeat(**_kwargs) -> None:
    start_heartbeat("beat")
