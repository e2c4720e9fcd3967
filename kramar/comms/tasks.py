"""Huey jobs of the Communication Center's mail ingestion: they only call services."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from kramar.comms.imap import mailboxes_due_poll


@db_periodic_task(crontab(minute="*"))
def poll_mailboxes_task() -> int:
    """Every minute: read the mail channels (mailboxes, BCC addresses, fax gateways) that are due."""
    return sum(r.stored for r in mailboxes_due_poll())
