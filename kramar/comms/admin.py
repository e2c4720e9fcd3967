"""Django admin for the Communication Center's configuration (channels, queues with members and SLA targets,
routing rules, business hours with holidays, agents, load weights) and read-mostly views of conversations, the
assignment log, the unprocessed items and the chat outbox (agents' replies on their way to chat gateways). Agents
work conversations in the inbox, where scopes and the routing services apply; here conversations are looked at,
not edited."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from kramar.comms.chat_outbox import chat_replies_retry
from kramar.comms.config_services import inbound_failures_resolve, rule_conditions_problems
from kramar.comms.models import (
    AgentProfile,
    Assignment,
    BusinessHours,
    CannedResponse,
    Channel,
    Conversation,
    Holiday,
    InboundFailure,
    LoadWeight,
    Message,
    OutgoingChatMessage,
    Queue,
    QueueMember,
    RoutingRule,
    SlaPolicy,
)
from kramar.core.admin import AuditedAdmin, ReadOnlyAdmin


class HolidayInline(admin.TabularInline):
    model = Holiday
    extra = 1


@admin.register(BusinessHours)
class BusinessHoursAdmin(AuditedAdmin):
    list_display = ["name", "time_zone"]
    search_fields = ["name"]
    inlines = [HolidayInline]


class QueueMemberInline(admin.TabularInline):
    model = QueueMember
    extra = 1
    autocomplete_fields = ["user"]
    readonly_fields = ["last_assigned_at"]


class SlaPolicyInline(admin.TabularInline):
    model = SlaPolicy
    extra = 1


@admin.register(Queue)
class QueueAdmin(AuditedAdmin):
    list_display = ["name", "strategy", "accept_minutes", "max_waiting", "overflow_queue", "business_hours",
                    "active", "position"]
    list_filter = ["active", "strategy"]
    list_editable = ["position"]
    search_fields = ["name"]
    filter_horizontal = ["supervisors"]
    inlines = [QueueMemberInline, SlaPolicyInline]


@admin.register(RoutingRule)
class RoutingRuleAdmin(AuditedAdmin):
    list_display = ["position", "name", "queue", "priority", "active", "updated_at"]
    list_display_links = ["name"]
    list_editable = ["position", "active"]
    list_filter = ["active", "queue", "priority"]
    search_fields = ["name"]

    def save_model(self, request, obj, form, change):
        # the same checks as the API's (kramar.comms.config_services), shown as warnings here
        problems = rule_conditions_problems(obj.conditions or [])
        for problem in problems:
            self.message_user(request, problem, messages.WARNING)
        super().save_model(request, obj, form, change)


@admin.register(AgentProfile)
class AgentProfileAdmin(AuditedAdmin):
    list_display = ["user", "presence", "presence_changed_at", "last_seen_at", "capacity"]
    list_filter = ["presence"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    autocomplete_fields = ["user"]
    readonly_fields = ["presence_changed_at", "last_seen_at"]


@admin.register(CannedResponse)
class CannedResponseAdmin(AuditedAdmin):
    list_display = ["name", "queue", "owner", "language", "active"]
    list_filter = ["active", "queue", "language"]
    search_fields = ["name", "body"]
    autocomplete_fields = ["owner"]

    def save_model(self, request, obj, form, change):
        from kramar.comms.services import canned_fields_unknown

        unknown = canned_fields_unknown(obj.body)
        if unknown:
            self.message_user(request, _("Unknown merge fields are left empty: %(fields)s") % {
                "fields": ", ".join(unknown)}, messages.WARNING)
        super().save_model(request, obj, form, change)


@admin.register(LoadWeight)
class LoadWeightAdmin(AuditedAdmin):
    list_display = ["channel_kind", "weight"]


@admin.register(Channel)
class ChannelAdmin(AuditedAdmin):
    audit_masked = ("secret",)
    list_display = ["name", "kind", "address", "queue", "active", "last_polled_at", "error_count"]
    list_filter = ["kind", "active"]
    search_fields = ["name", "address"]
    readonly_fields = ["cursor", "last_polled_at", "last_error", "error_count", "next_attempt_at", "embed_snippet"]

    @admin.display(description=_("Web form snippet"))
    def embed_snippet(self, obj):
        """The HTML a site pastes to embed a web-form channel (docs/webforms.md)."""
        from django.conf import settings
        from django.utils.html import format_html

        from kramar.comms.webforms import webform_snippet

        if obj is None or obj.pk is None or obj.kind != "webform":
            return "—"
        return format_html('<pre style="white-space: pre-wrap"><code>{}</code></pre>',
                           webform_snippet(obj, settings.KRAMAR_BASE_URL))


class AssignmentInline(admin.TabularInline):
    model = Assignment
    fk_name = "conversation"
    extra = 0
    can_delete = False
    fields = ["created_at", "status", "queue", "user", "decided_by", "expires_at", "accepted_at", "reason"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Conversation)
class ConversationAdmin(AuditedAdmin):
    list_display = ["__str__", "kind", "status", "priority", "queue", "owner", "opened_at", "first_response_due",
                    "sla_breached_at"]
    list_filter = ["status", "kind", "priority", "queue"]
    search_fields = ["subject", "thread_key"]
    list_select_related = ["queue", "owner"]
    raw_id_fields = ["contact", "company", "owner", "channel", "rule"]
    readonly_fields = ["opened_at", "last_message_at", "last_inbound_at", "first_response_at", "closed_at",
                       "first_response_due", "resolution_due", "sla_warned_at", "sla_breached_at"]
    inlines = [AssignmentInline]


@admin.register(Message)
class MessageAdmin(AuditedAdmin):
    list_display = ["__str__", "direction", "channel", "from_address", "sent_at", "is_auto_reply", "is_bounce"]
    list_filter = ["direction", "is_auto_reply", "is_bounce", "channel"]
    search_fields = ["subject", "from_address", "external_id"]
    raw_id_fields = ["conversation", "author", "interaction", "outgoing", "chat_outgoing"]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["created_at", "conversation", "status", "queue", "user", "decided_by", "expires_at"]
    list_filter = ["status", "queue"]
    search_fields = ["reason"]
    list_select_related = ["conversation", "queue", "user", "decided_by"]
    readonly_fields = ["conversation", "queue", "user", "status", "reason", "decided_by", "created_at",
                       "expires_at", "accepted_at"]

    def has_add_permission(self, request):
        return False


@admin.register(InboundFailure)
class InboundFailureAdmin(admin.ModelAdmin):
    list_display = ["created_at", "channel", "source_ref", "short_error", "resolved_at"]
    list_filter = ["channel", ("resolved_at", admin.EmptyFieldListFilter)]
    readonly_fields = ["channel", "source_ref", "raw", "error", "created_at", "message"]
    actions = ["mark_resolved"]

    @admin.display(description=_("reason"))
    def short_error(self, obj):
        return obj.error[:120]

    @admin.action(description=_("Mark as resolved"), permissions=["change"])
    def mark_resolved(self, request, queryset):
        # as the API's resolve: the change permission, and an audit row for each item resolved
        n = len(inbound_failures_resolve(actor=request.user, failures=queryset))
        self.message_user(request, ngettext("%(n)d item resolved.", "%(n)d items resolved.", n) % {"n": n})


@admin.register(OutgoingChatMessage)
class OutgoingChatMessageAdmin(ReadOnlyAdmin):
    """The chat outbox: every agent's reply in a chat on its way to the channel's gateway, with its status, attempts
    and the gateway's last answer. Nothing is edited or deleted here; "Retry now" posts pending replies without
    waiting and gives failed ones a new round (the gateway de-duplicates by message_id)."""

    list_display = ["created_at", "channel", "chat_id", "message_id", "status", "attempts", "last_status",
                    "next_attempt_at", "sent_at"]
    list_filter = ["status", "channel"]
    search_fields = ["=message_id", "=chat_id", "=conversation__id"]
    list_select_related = ["channel"]
    ordering = ["-created_at", "-id"]
    actions = ["retry_now"]
    fields = ["channel", "conversation", "chat_id", "message_id", "status", "attempts", "next_attempt_at",
              "last_attempt_at", "last_status", "last_error", "url", "created_at", "sent_at", "posted_body"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).defer("body")

    @admin.display(description=_("body"))
    def posted_body(self, obj: OutgoingChatMessage) -> str:
        return format_html('<pre style="white-space: pre-wrap; max-height: 40em; overflow: auto">{}</pre>', obj.body)

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("comms.change_outgoingchatmessage")

    @admin.action(description=_("Retry now"), permissions=["retry"])
    def retry_now(self, request, queryset) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        count = chat_replies_retry(ids=ids)
        if count:
            self.message_user(request, ngettext(
                "%(count)d chat reply will be posted again now.", "%(count)d chat replies will be posted again now.",
                count) % {"count": count}, messages.SUCCESS)
        if len(ids) > count:
            skipped = len(ids) - count
            self.message_user(request, ngettext(
                "%(count)d chat reply was left alone: it is sent or being sent.",
                "%(count)d chat replies were left alone: they are sent or being sent.", skipped,
            ) % {"count": skipped}, messages.WARNING)
