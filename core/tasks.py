from celery import shared_task

from .idempotency import purge_expired


@shared_task(name="core.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    """Beat, hourly: forget Idempotency-Keys older than their 24 h retention."""
    return purge_expired()
