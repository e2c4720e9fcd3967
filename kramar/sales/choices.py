from django.db import models
from django.utils.translation import gettext_lazy as _

from kramar.activities.choices import TaskKind, TaskPriority

__all__ = ["AssigneeRule", "DealStatus", "StageKind", "TaskKind", "TaskPriority"]


class StageKind(models.TextChoices):
    OPEN = "open", _("Open")
    WON = "won", _("Won")
    LOST = "lost", _("Lost")


class DealStatus(models.TextChoices):
    OPEN = "open", _("Open")
    WON = "won", _("Won")
    LOST = "lost", _("Lost")


class AssigneeRule(models.TextChoices):
    DEAL_OWNER = "owner", _("The deal's owner")
    TEAM_LEAD = "team_lead", _("The lead of the deal's team")
    USER = "user", _("A named user")
