from __future__ import annotations

from celery import shared_task

from . import rollup


@shared_task(name="observability.roll_up_outbox", ignore_result=True)
def roll_up_outbox() -> int:
    """Beat, every minute: the operations page's per-minute rollup (``observability.rollup``)."""
    return rollup.roll_up()
