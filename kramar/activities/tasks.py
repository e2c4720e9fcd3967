"""Huey jobs of the activities module: they only call services."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from kramar.activities.services import reminders_due_send


@db_periodic_task(crontab(minute="*"))
def send_task_reminders_task() -> int:
    """Every minute: send the task reminders that are due (each one once)."""
    return reminders_due_send()
