"""Huey jobs of the core module: they only call services."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from kramar.core.outbox import email_send, emails_due_send


@db_task()
def send_outgoing_email_task(email_id: int) -> str | None:
    """Queued when an e-mail is put in the outbox: one attempt to send it (the outbox keeps the retry schedule)."""
    return email_send(email_id=email_id)


@db_periodic_task(crontab(minute="*"))
def send_due_emails_task() -> int:
    """Every minute: send the outbox e-mails that are due (new ones whose task was lost, and the retries)."""
    return emails_due_send()
