from __future__ import annotations

import logging

from celery import shared_task

from . import services

logger = logging.getLogger(__name__)


@shared_task(name="accounting.run_payouts")
def run_payouts() -> int:
    """Beat: batch the queued reimbursements of every organisation whose payout run is due."""
    batches = 0
    for organization in services.payout_runs_due():
        if services.payout_run(organization=organization) is not None:
            batches += 1
            logger.info("payout batch created for %s", organization.slug)
    return batches
