"""Tasks and activities (call, meeting, e-mail, to-do) with reminders and recurrence, and per-user calendar feeds."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from kramar.activities.choices import Recurrence, TaskKind, TaskPriority, TaskStatus
from kramar.core import scopes
from kramar.core.models import ScopedRecord


class TaskQuerySet(models.QuerySet):
    def visible_to(self, user, action: str = "view"):
        """The tasks `user` may `action`: the assignee (`owner`) and team decide, as for clients."""
        return scopes.restrict(self, user, action)

    def open(self):
        return self.filter(status=TaskStatus.OPEN)


class Task(ScopedRecord):
    """A task or a planned activity. `owner` is the assignee. A call or meeting completed with an outcome
    writes an interaction (`interaction`) to the client's timeline."""

    scope_entity = "task"
    Kind = TaskKind
    Priority = TaskPriority
    Status = TaskStatus

    kind = models.CharField(_("kind"), max_length=8, choices=TaskKind.choices, default=TaskKind.TODO)
    title = models.CharField(_("title"), max_length=255)
    description = models.TextField(_("description"), blank=True)
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    all_day = models.BooleanField(_("all day"), default=False)
    duration_minutes = models.PositiveIntegerField(_("duration, min"), null=True, blank=True)
    location = models.CharField(_("location"), max_length=255, blank=True)
    priority = models.CharField(_("priority"), max_length=8, choices=TaskPriority.choices, default=TaskPriority.NORMAL)
    status = models.CharField(_("status"), max_length=10, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=255, blank=True)
    contact = models.ForeignKey(
        "clients.Contact", verbose_name=_("contact"), null=True, blank=True, on_delete=models.CASCADE,
        related_name="tasks",
    )
    company = models.ForeignKey(
        "clients.Company", verbose_name=_("company"), null=True, blank=True, on_delete=models.CASCADE,
        related_name="tasks",
    )
    deal = models.ForeignKey(
        "sales.Deal", verbose_name=_("deal"), null=True, blank=True, on_delete=models.CASCADE, related_name="tasks"
    )
    interaction = models.ForeignKey(
        "history.Interaction", verbose_name=_("logged as"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    # Reminders: `remind_at` is when; `reminded_at` is set once the periodic job has sent it (never twice).
    remind_at = models.DateTimeField(_("remind at"), null=True, blank=True)
    reminded_at = models.DateTimeField(_("reminded"), null=True, blank=True, editable=False)
    remind_by_email = models.BooleanField(_("also remind by e-mail"), default=False)
    # Recurrence: completing a repeating task creates the next occurrence (`recurrence_parent` points at the first).
    recurrence = models.CharField(_("repeats"), max_length=10, choices=Recurrence.choices, blank=True, default="")
    recurrence_until = models.DateField(_("repeats until"), null=True, blank=True)
    recurrence_parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    # Playbook: the step that created this task; (deal, playbook_step) is unique, so re-entry adds nothing.
    playbook_step = models.ForeignKey(
        "sales.PlaybookStep", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    # Meetings: attendees' e-mail addresses and the iCalendar identity of the invitation.
    attendees = models.JSONField(_("attendees"), default=list, blank=True)
    ical_uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    ical_sequence = models.PositiveIntegerField(default=0, editable=False)

    objects = TaskQuerySet.as_manager()

    class Meta:
        ordering = ["due_at", "id"]
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        indexes = [
            models.Index(fields=["owner", "status", "due_at"], name="act_task_owner_idx"),
            models.Index(fields=["team", "status", "due_at"], name="act_task_team_idx"),
            models.Index(fields=["deal", "status"], name="act_task_deal_idx"),
            models.Index(fields=["contact", "status"], name="act_task_contact_idx"),
            models.Index(fields=["company", "status"], name="act_task_company_idx"),
            models.Index(
                fields=["remind_at"], condition=Q(reminded_at__isnull=True, status="open"),
                name="act_task_remind_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["deal", "playbook_step"], condition=Q(playbook_step__isnull=False),
                name="act_task_playbook_once",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class CalendarFeed(models.Model):
    """A private iCalendar feed URL of a user. Only a digest of its secret is stored; revoking deletes it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feeds")
    digest = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)
    include_team = models.BooleanField(_("include my team's meetings"), default=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("calendar feed")
        verbose_name_plural = _("calendar feeds")

    def __str__(self) -> str:
        return f"{self.user_id} {self.prefix}…"
