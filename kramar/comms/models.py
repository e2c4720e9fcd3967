"""The Communication Center's data: channels that bring contacts in, conversations that gather a client's
messages on every channel, queues and ordered routing rules that decide who handles a conversation, agents'
presence and capacity, the log of every assignment decision, SLA targets and business hours, and the inbound
items that could not be processed (kept raw, never dropped).

A conversation is a scoped record like a deal or a task: its owner is the agent who has it (none while it waits
in a queue), so the record scopes of roles (own / team / all) apply as everywhere; queue members also see the
waiting conversations of their queues (kramar.comms.selectors)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from kramar.comms.choices import (
    AssignmentStatus,
    ChannelKind,
    ConversationStatus,
    MessageDirection,
    Presence,
    Priority,
    Strategy,
)
from kramar.core.models import ScopedRecord, TimeStampedModel


# --------------------------------------------------------------------------------------- working time
class BusinessHours(models.Model):
    """A weekly schedule in a time zone, with holidays: SLA clocks run only inside it, rules can test it."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    time_zone = models.CharField(_("time zone"), max_length=64, default="Europe/Kyiv")
    # {"mon": [["09:00", "18:00"]], "tue": [...], ..., "sun": []}: intervals per weekday, local time
    schedule = models.JSONField(_("weekly schedule"), default=dict)

    class Meta:
        ordering = ["name"]
        verbose_name = _("business hours")
        verbose_name_plural = _("business hours")

    def __str__(self) -> str:
        return self.name


class Holiday(models.Model):
    hours = models.ForeignKey(BusinessHours, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField(_("date"))
    name = models.CharField(_("name"), max_length=100, blank=True)

    class Meta:
        ordering = ["date"]
        constraints = [models.UniqueConstraint(fields=["hours", "date"], name="comms_holiday_unique")]
        verbose_name = _("holiday")
        verbose_name_plural = _("holidays")

    def __str__(self) -> str:
        return f"{self.date} {self.name}".strip()


# --------------------------------------------------------------------------------------- queues and rules
class Queue(models.Model):
    """Where conversations wait for an agent (Sales, Service, Accounting …) and how one is chosen."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.CharField(_("description"), max_length=255, blank=True)
    strategy = models.CharField(_("assignment strategy"), max_length=16, choices=Strategy.choices,
                                default=Strategy.OWNER)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="QueueMember", related_name="comms_queues",
                                     verbose_name=_("agents"))
    accept_minutes = models.PositiveSmallIntegerField(
        _("minutes to accept"), default=5, help_text=_("An offer not accepted in time goes to the next agent.")
    )
    max_waiting = models.PositiveIntegerField(
        _("most waiting"), null=True, blank=True,
        help_text=_("With more conversations waiting, new ones overflow to the overflow queue."),
    )
    overflow_queue = models.ForeignKey("self", verbose_name=_("overflow queue"), null=True, blank=True,
                                       on_delete=models.SET_NULL, related_name="+")
    business_hours = models.ForeignKey(BusinessHours, verbose_name=_("business hours"), null=True, blank=True,
                                       on_delete=models.SET_NULL, related_name="queues")
    supervisors = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="supervised_queues",
                                         verbose_name=_("supervisors"))
    active = models.BooleanField(_("active"), default=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    # the skills strategy: every agent offered a conversation of this queue has these (e.g. ["product:1c"])
    skills = models.JSONField(_("required skills"), default=list, blank=True,
                              help_text=_('Skills an agent needs for this queue, e.g. ["product:1c"].'))

    class Meta:
        ordering = ["position", "name"]
        verbose_name = _("queue")
        verbose_name_plural = _("queues")

    def __str__(self) -> str:
        return self.name


class QueueMember(models.Model):
    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="queue_memberships")
    # round robin: who got the last one (the next goes to the member after them)
    last_assigned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["queue", "user"], name="comms_queue_member_unique")]
        verbose_name = _("queue member")
        verbose_name_plural = _("queue members")

    def __str__(self) -> str:
        return f"{self.user} @ {self.queue}"


class RoutingRule(models.Model):
    """One ordered rule: when every condition holds, the conversation goes to `queue` with `priority`.

    `conditions` is a list of {"field": …, "op": …, "value": …}; fields: channel_kind, channel (id), mailbox
    (address), sender_domain, owner (the client's owner id), lifecycle_stage, tag, client_class, language,
    keyword (subject or body), business_hours ("in"/"out" of the queue's hours); ops: eq, ne, in, contains,
    matches. An empty list matches everything (a catch-all rule last)."""

    position = models.PositiveIntegerField(_("position"), default=0)
    name = models.CharField(_("name"), max_length=100)
    active = models.BooleanField(_("active"), default=True)
    conditions = models.JSONField(_("conditions"), default=list, blank=True)
    queue = models.ForeignKey(Queue, verbose_name=_("queue"), on_delete=models.CASCADE, related_name="rules")
    priority = models.PositiveSmallIntegerField(_("priority"), choices=Priority.choices, default=Priority.NORMAL)
    skills = models.JSONField(_("required skills"), default=list, blank=True,
                              help_text=_('Skills an agent needs for what this rule matches, e.g. ["product:1c"].'))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")

    def __str__(self) -> str:
        return self.name


class SlaPolicy(models.Model):
    """Targets of a queue for one priority: first response and resolution, in business minutes."""

    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="sla_policies")
    priority = models.PositiveSmallIntegerField(_("priority"), choices=Priority.choices)
    first_response_minutes = models.PositiveIntegerField(_("first response within, min"))
    resolution_minutes = models.PositiveIntegerField(_("resolution within, min"), null=True, blank=True)
    warn_before_minutes = models.PositiveIntegerField(_("warn before, min"), default=15)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["queue", "priority"], name="comms_sla_unique")]
        verbose_name = _("SLA target")
        verbose_name_plural = _("SLA targets")

    def __str__(self) -> str:
        return f"{self.queue}: {self.get_priority_display()}"


# --------------------------------------------------------------------------------------- agents
class AgentProfile(models.Model):
    """An agent's presence, capacity and skills (a user without one is offline with the default capacity)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent")
    presence = models.CharField(_("presence"), max_length=8, choices=Presence.choices, default=Presence.OFFLINE)
    presence_changed_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True)
    capacity = models.PositiveSmallIntegerField(
        _("capacity"), default=10, help_text=_("Load units at once; each channel's weight is in the load weights.")
    )
    skills = models.JSONField(_("skills"), default=list, blank=True, help_text=_('e.g. ["uk", "en", "product:1c"]'))

    class Meta:
        indexes = [models.Index(fields=["presence"], name="comms_agent_presence_idx")]
        verbose_name = _("agent")
        verbose_name_plural = _("agents")

    def __str__(self) -> str:
        return str(self.user)


class LoadWeight(models.Model):
    """How much one open conversation of a channel kind weighs against an agent's capacity (a call more than an
    e-mail); kinds without a row weigh 1."""

    channel_kind = models.CharField(_("channel kind"), max_length=16, choices=ChannelKind.choices, unique=True)
    weight = models.PositiveSmallIntegerField(_("weight"), default=1)

    class Meta:
        verbose_name = _("load weight")
        verbose_name_plural = _("load weights")

    def __str__(self) -> str:
        return f"{self.get_channel_kind_display()}: {self.weight}"


# --------------------------------------------------------------------------------------- channels
class Channel(TimeStampedModel):
    """One way contacts come in: a mailbox, a BCC address, a telephony account, a fax gateway, a web form, a
    chat integration, the office's letters. `settings` holds the kind's parameters (IMAP host, port, TLS,
    user and folder; allowed origins of a web form; fax senders …); `secret` the password or the webhook's
    shared HMAC secret."""

    kind = models.CharField(_("kind"), max_length=16, choices=ChannelKind.choices)
    name = models.CharField(_("name"), max_length=100)
    address = models.CharField(_("address"), max_length=255, blank=True,
                               help_text=_("The mailbox's e-mail, the phone number, the form's key …"))
    active = models.BooleanField(_("active"), default=True)
    settings = models.JSONField(_("settings"), default=dict, blank=True)
    secret = models.CharField(_("password or secret"), max_length=255, blank=True)
    queue = models.ForeignKey(Queue, verbose_name=_("default queue"), null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="channels")
    # polling state (mailboxes): where reading stopped, and the last error with its back-off
    cursor = models.JSONField(_("read position"), default=dict, blank=True)  # e.g. {"uidvalidity": …, "uid": …}
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    error_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["kind", "name"]
        indexes = [models.Index(fields=["kind", "active", "next_attempt_at"], name="comms_channel_poll_idx")]
        verbose_name = _("channel")
        verbose_name_plural = _("channels")

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


# --------------------------------------------------------------------------------------- conversations
class ConversationQuerySet(models.QuerySet):
    def visible_to(self, user, action: str = "view"):
        """By the role's scope on conversations (the agent who has it is the owner). Queue members' view of
        the waiting conversations of their queues is added by kramar.comms.selectors."""
        from kramar.core import scopes

        return scopes.restrict(self, user, action)


class Conversation(ScopedRecord):
    """A thread with a client on one channel: its messages, the queue it waits in, the agent who has it
    (`owner`), priority and SLA clocks."""

    scope_entity = "conversation"

    channel = models.ForeignKey(Channel, verbose_name=_("channel"), on_delete=models.PROTECT,
                                related_name="conversations")
    kind = models.CharField(_("channel kind"), max_length=16, choices=ChannelKind.choices)
    subject = models.CharField(_("subject"), max_length=255, blank=True)
    status = models.CharField(_("status"), max_length=8, choices=ConversationStatus.choices,
                              default=ConversationStatus.NEW)
    priority = models.PositiveSmallIntegerField(_("priority"), choices=Priority.choices, default=Priority.NORMAL)
    contact = models.ForeignKey("clients.Contact", verbose_name=_("contact"), null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="conversations")
    company = models.ForeignKey("clients.Company", verbose_name=_("company"), null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="conversations")
    # how later items find this thread: the root Message-ID, the caller's E.164 number, the chat id …
    thread_key = models.CharField(_("thread key"), max_length=255, blank=True)
    language = models.CharField(_("language"), max_length=8, blank=True)
    queue = models.ForeignKey(Queue, verbose_name=_("queue"), null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="conversations")
    # the routing rule that chose the queue (its skills apply when the conversation is offered again)
    rule = models.ForeignKey(RoutingRule, verbose_name=_("routing rule"), null=True, blank=True,
                             on_delete=models.SET_NULL, related_name="+")
    opened_at = models.DateTimeField(_("opened"), default=timezone.now)
    last_message_at = models.DateTimeField(_("last message"), default=timezone.now)
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(_("first response"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    first_response_due = models.DateTimeField(_("first response due"), null=True, blank=True)
    resolution_due = models.DateTimeField(_("resolution due"), null=True, blank=True)
    sla_warned_at = models.DateTimeField(null=True, blank=True)
    sla_breached_at = models.DateTimeField(_("SLA breached"), null=True, blank=True)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ["-last_message_at", "-id"]
        indexes = [
            models.Index(fields=["status", "queue", "-priority", "opened_at"], name="comms_conv_queue_idx"),
            models.Index(fields=["owner", "status", "-last_message_at"], name="comms_conv_agent_idx"),
            models.Index(fields=["channel", "thread_key"], name="comms_conv_thread_idx"),
            models.Index(fields=["contact", "-last_message_at"], name="comms_conv_contact_idx"),
            models.Index(fields=["status", "first_response_due"], name="comms_conv_sla_idx"),
            # the inbox's "all" tab: newest first within a status
            models.Index(fields=["status", "-last_message_at"], name="comms_conv_recent_idx"),
        ]
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")

    def __str__(self) -> str:
        return self.subject or f"#{self.pk}"


def raw_path(instance, filename: str) -> str:
    now = timezone.now()
    return f"comms/raw/{now:%Y/%m}/{filename}"


class Message(models.Model):
    """One item of a conversation: an e-mail, a call, a fax, a form post, a chat message (inbound or outbound)
    or an agent's internal note. Inbound items keep their original bytes (`raw`) where they had any."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="messages")
    direction = models.CharField(_("direction"), max_length=4, choices=MessageDirection.choices)
    # Message-ID, call id, chat message id: the same item seen twice on a channel is stored once
    external_id = models.CharField(max_length=512, null=True, blank=True)  # noqa: DJ001
    in_reply_to = models.CharField(max_length=512, blank=True)
    references = models.TextField(blank=True)
    from_address = models.CharField(_("from"), max_length=320, blank=True)
    from_name = models.CharField(max_length=255, blank=True)
    to = models.JSONField(_("to"), default=list, blank=True)
    cc = models.JSONField(_("cc"), default=list, blank=True)
    subject = models.CharField(_("subject"), max_length=255, blank=True)
    body = models.TextField(_("text"), blank=True)
    body_html = models.TextField(_("HTML"), blank=True, help_text=_("Sanitized with nh3 before it is stored."))
    sent_at = models.DateTimeField(_("sent"), default=timezone.now)
    received_at = models.DateTimeField(_("received"), auto_now_add=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    interaction = models.ForeignKey("history.Interaction", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    outgoing = models.ForeignKey("core.OutgoingEmail", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    # an agent's reply in a chat: its delivery to the chat gateway (kramar.comms.chat_outbox)
    chat_outgoing = models.ForeignKey("comms.OutgoingChatMessage", null=True, blank=True,
                                      on_delete=models.SET_NULL, related_name="+")
    raw = models.FileField(_("original"), upload_to=raw_path, max_length=500, blank=True)
    is_auto_reply = models.BooleanField(default=False)
    is_bounce = models.BooleanField(default=False)
    # everything else worth knowing: {"charset_guessed": "cp1251", "refused_attachments": [{…, "reason"}],
    # "bounced_recipient": …, "call": {"duration": …, "recording": …}}
    flags = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["sent_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "external_id"], condition=Q(external_id__isnull=False),
                                    name="comms_message_external_unique"),
        ]
        indexes = [
            models.Index(fields=["conversation", "sent_at"], name="comms_msg_conv_idx"),
            models.Index(fields=["in_reply_to"], name="comms_msg_reply_idx"),
            # threading a sender without a client by subject (kramar.comms.ingest.conversation_find)
            models.Index(Lower("from_address"), "channel", name="comms_msg_sender_idx"),
        ]
        verbose_name = _("message")
        verbose_name_plural = _("messages")

    def __str__(self) -> str:
        return self.subject or f"{self.get_direction_display()} #{self.pk}"


class InboundFailure(models.Model):
    """An inbound item that could not be processed: kept raw with the reason, shown in the "could not
    process" list, and retried or resolved by hand. A mailbox message is deleted from the server only after
    it is stored here or as a Message."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="failures")
    source_ref = models.CharField(_("where it came from"), max_length=255, blank=True)  # IMAP UID, request id
    raw = models.FileField(_("original"), upload_to=raw_path, max_length=500, blank=True)
    error = models.TextField(_("reason"))
    created_at = models.DateTimeField(_("received"), auto_now_add=True, db_index=True)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("unprocessed item")
        verbose_name_plural = _("unprocessed items")

    def __str__(self) -> str:
        return f"{self.channel}: {self.error[:80]}"


class Assignment(models.Model):
    """Every routing decision, with its reason ("rule 3 → Sales; owner away → least loaded: 2 of 5 open"):
    an offer to an agent, its acceptance, expiry or transfer."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="assignments")
    queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    status = models.CharField(_("status"), max_length=12, choices=AssignmentStatus.choices,
                              default=AssignmentStatus.OFFERED)
    reason = models.TextField(_("reason"), blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", help_text=_("Empty when the routing engine decided."))
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "expires_at"], name="comms_assign_expiry_idx"),
            models.Index(fields=["conversation", "-created_at"], name="comms_assign_conv_idx"),
        ]
        verbose_name = _("assignment")
        verbose_name_plural = _("assignments")

    def __str__(self) -> str:
        return f"{self.conversation_id} → {self.user or self.queue} ({self.status})"


# --------------------------------------------------------------------------------------- replies and live updates
class CannedResponse(models.Model):
    """A prepared answer an agent inserts into a reply. Merge fields in the text ({{ contact.first_name }},
    {{ agent.name }}, {{ conversation.subject }} …) are filled when it is used (kramar.comms.services)."""

    name = models.CharField(_("name"), max_length=100)
    body = models.TextField(_("text"))
    queue = models.ForeignKey(
        Queue,
        verbose_name=_("queue"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="canned_responses",
        help_text=_("Empty: offered in every queue."),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="canned_responses",
        help_text=_("Empty: shared with every agent; set: the owner's own."),
    )
    language = models.CharField(_("language"), max_length=8, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("canned response")
        verbose_name_plural = _("canned responses")

    def __str__(self) -> str:
        return self.name


class RateCounter(models.Model):
    """Hits counted per key and fixed time window in the database, so every server process shares the count (the
    web form's posts per IP address and clock hour). Old windows are deleted by a periodic job."""

    key = models.CharField(max_length=120)  # e.g. "webform:<channel id>:<digest of the IP>"
    window = models.DateTimeField()  # the window's start
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "window"], name="comms_ratecounter_uniq")]
        indexes = [models.Index(fields=["window"], name="comms_ratecounter_window_idx")]
        verbose_name = _("rate counter")
        verbose_name_plural = _("rate counters")

    def __str__(self) -> str:
        return f"{self.key} @ {self.window:%Y-%m-%d %H:%M}: {self.count}"


class LiveEvent(models.Model):
    """One push to open browsers (a call ringing for an agent, a conversation that changed, a queue that grew),
    written in the same transaction as the change it reports, so an event of a rolled-back change never leaves.
    Browsers read their topics over server-sent events (kramar.comms.live); rows older than a day are deleted
    by a periodic job."""

    topic = models.CharField(max_length=64)  # "user:12", "queue:3", "supervisors"
    kind = models.CharField(max_length=40)  # "call.ringing", "conversation.changed" …
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["topic", "id"], name="comms_live_topic_idx")]
        verbose_name = _("live event")
        verbose_name_plural = _("live events")

    def __str__(self) -> str:
        return f"{self.topic} {self.kind}"


class OutgoingChatMessage(models.Model):
    """One agent's reply in a chat, on its way to the channel's gateway (`settings["reply_url"]`): the JSON body
    exactly as it was decided when the reply was written (posted byte for byte at every attempt, so the gateway
    sees the same `message_id` and text however often it is retried), its delivery status, attempts and last
    error. Rows are never deleted by the sender: a reply is pending until the gateway takes it (2xx), and failed
    (still here, with the gateway's answer) when it refused it or retrying gave up. See
    `kramar.comms.chat_outbox` and docs/chat.md."""

    class Status(models.TextChoices):
        PENDING = "pending", pgettext_lazy("chat delivery status", "queued")
        SENDING = "sending", pgettext_lazy("chat delivery status", "sending")
        SENT = "sent", pgettext_lazy("chat delivery status", "sent")
        FAILED = "failed", pgettext_lazy("chat delivery status", "failed")

    channel = models.ForeignKey(Channel, verbose_name=_("channel"), on_delete=models.PROTECT,
                                related_name="chat_outbox")
    conversation = models.ForeignKey(Conversation, verbose_name=_("conversation"), null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    chat_id = models.CharField(_("chat id"), max_length=128)
    # Kramar's id of the reply, in the body too: the same at every attempt, so the gateway can de-duplicate
    message_id = models.CharField(_("message id"), max_length=64, unique=True)
    body = models.TextField(_("body"), editable=False)  # the JSON text as posted (UTF-8)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    # pending: when the next attempt is due; sending: when an attempt still unfinished counts as interrupted
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    last_status = models.PositiveSmallIntegerField(_("last HTTP status"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    url = models.CharField(_("posted to"), max_length=2000, blank=True)  # the reply URL of the last attempt
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # the retry job: status = 'pending' AND next_attempt_at <= now (and 'sending' past its deadline)
            models.Index(fields=["status", "next_attempt_at"], name="comms_chatout_due_idx"),
            # replies of one chat go out in order: an earlier one still unsent holds the later ones back
            models.Index(fields=["channel", "chat_id", "status"], name="comms_chatout_chat_idx"),
        ]
        verbose_name = _("outgoing chat message")
        verbose_name_plural = _("outgoing chat messages")

    def __str__(self) -> str:
        return f"{self.chat_id} #{self.pk} ({self.status})"
