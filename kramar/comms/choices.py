"""Choices of the Communication Center."""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class ChannelKind(models.TextChoices):
    EMAIL = "email", _("E-mail mailbox")
    DROPBOX = "dropbox", _("BCC / forward address")
    PHONE = "phone", _("Telephony")
    FAX = "fax", _("Fax gateway")
    WEBFORM = "webform", _("Web form")
    CHAT = "chat", _("Chat / messenger")
    LETTER = "letter", _("Letters and visits")


class ConversationStatus(models.TextChoices):
    NEW = "new", pgettext_lazy("conversation status", "New")  # in a queue, nobody has it yet
    OPEN = "open", pgettext_lazy("conversation status", "Open")  # an agent has it
    PENDING = "pending", pgettext_lazy("conversation status", "Waiting for the client")
    CLOSED = "closed", pgettext_lazy("conversation status", "Closed")


class Priority(models.IntegerChoices):
    LOW = 1, pgettext_lazy("priority", "Low")
    NORMAL = 2, pgettext_lazy("priority", "Normal")
    HIGH = 3, pgettext_lazy("priority", "High")
    URGENT = 4, pgettext_lazy("priority", "Urgent")


class MessageDirection(models.TextChoices):
    INBOUND = "in", _("Inbound")
    OUTBOUND = "out", _("Outbound")
    NOTE = "note", _("Internal note")


class Strategy(models.TextChoices):
    OWNER = "owner", _("The client's own manager first, then the least loaded")
    ROUND_ROBIN = "round_robin", _("Round robin")
    LEAST_LOADED = "least_loaded", _("Least loaded")
    SKILLS = "skills", _("Skills (language, product line)")


class Presence(models.TextChoices):
    ONLINE = "online", _("Online")
    AWAY = "away", _("Away")
    OFFLINE = "offline", _("Offline")


class AssignmentStatus(models.TextChoices):
    OFFERED = "offered", _("Offered")
    ACCEPTED = "accepted", _("Accepted")
    DECLINED = "declined", _("Declined")
    EXPIRED = "expired", _("Not accepted in time")
    TRANSFERRED = "transferred", _("Transferred")
    WAITING = "waiting", _("Waiting in the queue")  # nobody eligible: the reason says why
