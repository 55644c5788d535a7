from __future__ import annotations

import logging

from celery import shared_task

from . import services

logger = logging.getLogger(__name__)


@shared_task(name="money.fetch_rates", autoretry_for=(OSError,), retry_backoff=60, max_retries=5)
def fetch_rates() -> int:
    """Beat: fetch the ECB daily rates from EXCHANGE_RATES_URL (nothing when it is unset). A
    malformed file is refused whole and logged; a network error is retried."""
    result = services.rates_fetch()
    if result is None:
        return 0
    logger.info("exchange rates fetched: %s rates for %s day(s), last %s", result.rates, result.days,
                result.last_day)
    return result.rates
