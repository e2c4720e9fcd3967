"""Huey jobs of the Communication Center's mail ingestion and chat replies: they only call services."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from kramar.comms.chat_outbox import chat_replies_due_send, chat_reply_send
from kramar.comms.imap import mailboxes_due_poll


@db_periodic_task(crontab(minute="*"))
def poll_mailboxes_task() -> int:
    """Every minute: read the mail channels (mailboxes, BCC addresses, fax gateways) that are due."""
    return sum(r.stored for r in mailboxes_due_poll())


@db_task()
def send_chat_reply_task(outgoing_id: int) -> str | None:
    """Queued when an agent's chat reply is put in the outbox: one attempt to post it to the chat's gateway (the
    outbox keeps the retry schedule)."""
    return chat_reply_send(outgoing_id=outgoing_id)


@db_periodic_task(crontab(minute="*"))
def send_due_chat_replies_task() -> int:
    """Every minute: post the chat replies that are due (new ones whose task was lost, and the retries)."""
    return chat_replies_due_send()
