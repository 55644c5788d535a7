from celery import shared_task

from . import services


@shared_task(name="notifications.send_email", ignore_result=True, acks_late=True)
def send_email(email_id: int) -> str:
    """Send one queued mail (after its notification committed)."""
    return services.send_email(email_id)


@shared_task(name="notifications.resend_due_emails", ignore_result=True)
def resend_due_emails() -> int:
    """Beat: send mails whose retry is due (or whose first send never reached the broker)."""
    ids = services.due_emails()
    for pk in ids:
        services.send_email(pk)
    return len(ids)


@shared_task(name="notifications.send_approver_digests", ignore_result=True)
def send_approver_digests() -> int:
    """Beat: approvers' daily digests (each at most once a day, after APPROVER_DIGEST_HOUR)."""
    from .digest import send_approver_digests as send

    return send()
