"""The Celery app (worker and beat). Settings come from Django settings, prefix ``CELERY_``."""

from __future__ import annotations

import contextlib
import os
import threading
import time

from celery import Celery
from celery.signals import beat_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("outlay")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

HEARTBEAT_KEY = "outlay:heartbeat:{role}"
HEARTBEAT_EVERY = 5.0


def _beat_forever(role: str) -> None:
    """Write a heartbeat to Redis every few seconds; `/readyz` judges liveness by its age."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=2)
    while True:
        # Redis down: the heartbeat goes stale, which is what /readyz should see.
        with contextlib.suppress(redis.RedisError):
            client.set(HEARTBEAT_KEY.format(role=role), str(time.time()), ex=60)
        time.sleep(HEARTBEAT_EVERY)


def start_heartbeat(role: str) -> None:
    threading.Thread(target=_beat_forever, args=(role,), name=f"{role}-heartbeat", daemon=True).start()


@worker_ready.connect
def _worker_heartbeat(**_kwargs) -> None:
    start_heartbeat("worker")


@beat_init.connect
def _beat_heartbeat(**_kwargs) -> None:
    start_heartbeat("beat")
