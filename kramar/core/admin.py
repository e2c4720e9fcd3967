"""Django admin for settings that live in core: tags, custom field definitions, the audit log (read only: the
log is written by the services and never edited) and the e-mail outbox (read only, with "Retry now")."""

from __future__ import annotations

from functools import cached_property

from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from kramar.core.models import AuditEntry, CustomFieldDefinition, OutgoingEmail, Tag
from kramar.core.outbox import emails_retry

COUNT_CAP = 10_000


class CappedPaginator(Paginator):
    """Counts at most COUNT_CAP + 1 rows: the admin's exact COUNT(*) is slow over millions of rows."""

    @cached_property
    def count(self) -> int:
        qs = self.object_list
        if hasattr(qs, "order_by"):
            return qs.order_by().values("pk")[: COUNT_CAP + 1].count()
        return len(qs)


class AuditedAdmin(admin.ModelAdmin):
    """Changes made in the admin go to the audit log like the services' writes: who, created / updated / deleted,
    the fields with old and new values (`audit_masked` fields only say that they changed), the inlines and
    many-to-many fields that changed, and `"via": "admin"`."""

    audit_masked: tuple[str, ...] = ()

    def _audit_changes(self, before: dict, after: dict) -> dict:
        from kramar.core.audit import diff

        changes = diff(before, after)
        for name in self.audit_masked:
            if name in changes:
                changes[name] = ["•••" if changes[name][0] else "", "•••" if changes[name][1] else ""]
        return changes

    def save_model(self, request, obj, form, change):
        from kramar.core.audit import snapshot

        before = snapshot(type(obj)._default_manager.get(pk=obj.pk)) if change and obj.pk else {}
        super().save_model(request, obj, form, change)
        request._kramar_audit = (obj, change, self._audit_changes(before, snapshot(obj)))

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        obj, changed, changes = getattr(request, "_kramar_audit", (form.instance, change, {}))
        related = [name for name in form.changed_data if name in {f.name for f in obj._meta.many_to_many}]
        for formset in formsets:
            if formset.new_objects or formset.changed_objects or formset.deleted_objects:
                related.append(str(formset.model._meta.verbose_name_plural))
        if changes or related or not changed:
            from kramar.core.audit import audit_record

            audit_record(actor=request.user, action=AuditEntry.Action.UPDATE if changed else AuditEntry.Action.CREATE,
                         obj=obj, changes=changes, extra={"via": "admin", **({"related": related} if related else {})})

    def delete_model(self, request, obj):
        from kramar.core.audit import audit_record, snapshot

        pk, before = obj.pk, snapshot(obj)
        super().delete_model(request, obj)
        obj.pk = pk
        audit_record(actor=request.user, action=AuditEntry.Action.DELETE, obj=obj,
                     changes=self._audit_changes(before, {}), extra={"via": "admin"})

    def delete_queryset(self, request, queryset):
        for obj in queryset:  # one audit row each
            self.delete_model(request, obj)


class ReadOnlyAdmin(admin.ModelAdmin):
    """View-only: rows are written by the services (with audit), never through the admin."""

    paginator = CappedPaginator
    show_full_result_count = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Tag)
class TagAdmin(AuditedAdmin):
    list_display = ["name", "color", "created_at"]
    search_fields = ["name"]
    ordering = ["name"]


@admin.register(CustomFieldDefinition)
class CustomFieldDefinitionAdmin(AuditedAdmin):
    list_display = ["label", "entity", "key", "field_type", "required", "position"]
    list_filter = ["entity", "field_type", "required"]
    list_editable = ["position"]
    search_fields = ["key", "label"]
    ordering = ["entity", "position", "key"]
    fieldsets = [
        (None, {"fields": ["entity", "key", "label", "field_type", "required", "position"]}),
        (
            _("Choices"),
            {"fields": ["choices"], "description": _('For choice fields, a JSON list such as ["A", "B"].')},
        ),
    ]


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor", "action", "source", "entity", "object_id", "object_repr"]
    list_filter = ["action", "source", "entity"]
    list_select_related = ["actor"]
    search_fields = ["=object_id", "object_repr"]
    readonly_fields = [f.name for f in AuditEntry._meta.fields]
    ordering = ["-created_at", "-id"]


@admin.register(OutgoingEmail)
class OutgoingEmailAdmin(ReadOnlyAdmin):
    """The outbox: every e-mail the system sends, with its status, attempts and last error. Nothing is edited or
    deleted here; "Retry now" sends pending e-mails without waiting and gives failed ones a new round."""

    list_display = ["created_at", "kind", "subject", "recipient_list", "status", "attempts", "next_attempt_at",
                    "sent_at"]
    list_filter = ["status", "kind"]
    search_fields = ["subject", "=ref_id"]
    ordering = ["-created_at", "-id"]
    actions = ["retry_now"]
    fields = ["kind", "ref_entity", "ref_id", "sender", "recipient_list", "subject", "status", "attempts",
              "next_attempt_at", "last_attempt_at", "last_error", "created_at", "sent_at", "source"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).defer("raw")

    @admin.display(description=_("recipients"))
    def recipient_list(self, obj: OutgoingEmail) -> str:
        return ", ".join(obj.recipients or [])

    @admin.display(description=_("message source"))
    def source(self, obj: OutgoingEmail) -> str:
        return format_html(
            '<pre style="white-space: pre-wrap; max-height: 40em; overflow: auto">{}</pre>',
            bytes(obj.raw).decode("utf-8", errors="replace"),
        )

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("core.change_outgoingemail")

    @admin.action(description=_("Retry now"), permissions=["retry"])
    def retry_now(self, request, queryset) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        count = emails_retry(ids=ids)
        if count:
            self.message_user(request, ngettext(
                "%(count)d e-mail will be sent again now.", "%(count)d e-mails will be sent again now.", count
            ) % {"count": count}, messages.SUCCESS)
        if len(ids) > count:
            skipped = len(ids) - count
            self.message_user(request, ngettext(
                "%(count)d e-mail was left alone: it is sent or being sent.",
                "%(count)d e-mails were left alone: they are sent or being sent.", skipped,
            ) % {"count": skipped}, messages.WARNING)
