"""Writes to the timeline: log, edit and delete interactions, attach files. Idempotent on external id."""

from __future__ import annotations

import datetime as dt
from typing import Any

import nh3
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Max, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from kramar.clients.models import Company, Contact
from kramar.core import scopes
from kramar.core.audit import audit_record, diff, snapshot
from kramar.core.customfields import custom_fields_clean
from kramar.core.errors import DomainError, ValidationFailed, VersionConflict
from kramar.core.models import AuditEntry
from kramar.history.models import Attachment, Direction, Interaction

TEXT_LIMITS = {"subject": 255, "outcome": 255, "body": 1_000_000, "body_html": 2_000_000}


def html_sanitize(html: str) -> str:
    """Strip scripts, event handlers and anything else unsafe; keep ordinary formatting and links."""
    return nh3.clean(html or "", link_rel="noopener noreferrer nofollow")


def _clean(
    actor, data: dict[str, Any], *, interaction: Interaction | None, check_client_scope: bool = True
) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    if "channel" in data or interaction is None:
        if data.get("channel") not in Interaction.Channel.values:
            errors["channel"] = [_("must be one of: %(c)s") % {"c": ", ".join(Interaction.Channel.values)}]
        else:
            values["channel"] = data["channel"]
    if "direction" in data:
        if data["direction"] not in Direction.values:
            errors["direction"] = [_("must be one of: %(c)s") % {"c": ", ".join(Direction.values)}]
        else:
            values["direction"] = data["direction"]
    if "occurred_at" in data and data["occurred_at"] not in (None, ""):
        when = data["occurred_at"]
        if isinstance(when, str):
            when = parse_datetime(when) if "T" in when or " " in when else None
        if not isinstance(when, dt.datetime):
            errors["occurred_at"] = [_("must be a date and time (YYYY-MM-DDTHH:MM)")]
        else:
            values["occurred_at"] = when if timezone.is_aware(when) else timezone.make_aware(when)
    if "duration_seconds" in data:
        value = data["duration_seconds"]
        if value in (None, ""):
            values["duration_seconds"] = None
        else:
            try:
                value = int(value)
                if value < 0:
                    raise ValueError
                values["duration_seconds"] = value
            except (TypeError, ValueError):
                errors["duration_seconds"] = [_("must be a whole number of seconds, 0 or more")]
    for key, limit in TEXT_LIMITS.items():
        if key in data:
            value = data[key] if data[key] is not None else ""
            if not isinstance(value, str):
                errors[key] = [_("must be text")]
            elif len(value) > limit:
                errors[key] = [_("at most %(n)d characters") % {"n": limit}]
            else:
                values[key] = value.strip() if key in {"subject", "outcome"} else value
    if "body_html" in values:
        values["body_html"] = html_sanitize(values["body_html"])
        if not values.get("body") and not (interaction and interaction.body):
            values["body"] = nh3.clean(values["body_html"], tags=set()).strip()
    if "external_id" in data:
        ext = data["external_id"]
        values["external_id"] = (str(ext).strip()[:255] or None) if ext not in (None, "") else None
    for key, model in (("contact_id", Contact), ("company_id", Company)):
        if key in data:
            pk = data[key]
            if pk in (None, ""):
                values[key[:-3]] = None
                continue
            clients = model.objects.visible_to(actor, "view") if check_client_scope else model.objects.alive()
            obj = clients.filter(pk=pk).first()
            if obj is None:
                errors[key] = [_("no such client")]
            else:
                values[key[:-3]] = obj
    contact = values.get("contact", interaction.contact if interaction else None)
    company = values.get("company", interaction.company if interaction else None)
    if "contact_id" not in errors and "company_id" not in errors and contact is None and company is None:
        errors["contact_id"] = [_("An interaction belongs to a contact or a company.")]
    if contact is not None and company is None and "company_id" not in data and interaction is None:
        values["company"] = contact.primary_company
    if "custom" in data or interaction is None:
        try:
            values["custom"] = custom_fields_clean(
                entity="interaction", values=data.get("custom"), current=interaction.custom if interaction else None,
                partial=interaction is not None,
            )
        except ValidationFailed as exc:
            errors.update(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    return values


# ------------------------------------------------------------------------ clients' "last contacted"
def _clients_bump_last_contacted(interaction: Interaction) -> None:
    """Move the clients' last_contacted_at forward to this interaction (never back): one guarded UPDATE each."""
    when = interaction.occurred_at
    for model, pk in ((Contact, interaction.contact_id), (Company, interaction.company_id)):
        if pk is not None:
            model.objects.filter(pk=pk).filter(
                Q(last_contacted_at__isnull=True) | Q(last_contacted_at__lt=when)
            ).update(last_contacted_at=when)


def latest_interaction_subquery(field: str) -> Subquery:
    """MAX(occurred_at) of the outer client's interactions: served by the (contact|company, -occurred_at) index."""
    return Subquery(
        Interaction.objects.filter(**{field: OuterRef("pk")})
        .order_by()
        .values(field)
        .annotate(latest=Max("occurred_at"))
        .values("latest")[:1]
    )


def clients_last_contacted_recompute(
    *, contact_ids: list[int] | None = None, company_ids: list[int] | None = None
) -> int:
    """Set last_contacted_at of the given clients (all of them when a list is None) to the latest occurred_at of
    their interactions (NULL when none): one set-based UPDATE with a correlated subquery per model. Returns the
    number of rows updated."""
    updated = 0
    for model, field, ids in ((Contact, "contact_id", contact_ids), (Company, "company_id", company_ids)):
        qs = model.objects.all()
        if ids is not None:
            ids = [pk for pk in ids if pk is not None]
            if not ids:
                continue
            qs = qs.filter(pk__in=ids)
        updated += qs.update(last_contacted_at=latest_interaction_subquery(field))
    return updated


class ExternalIdTaken(DomainError):
    """The external id is already stored for the channel, on an interaction the actor may not see."""

    status = 409

    def __init__(self, *, channel: str, external_id: str):
        super().__init__(
            "external_id_taken",
            _("An interaction with this external id is already stored for the channel, outside your scope."),
            {"field": "external_id", "channel": channel, "external_id": external_id},
        )


def _stored_for(actor, channel: str, external_id: str) -> Interaction | None:
    """The interaction already stored under (channel, external_id), if any; refused when outside the actor's scope
    (returning it would show another team's record)."""
    existing = Interaction.objects.filter(channel=channel, external_id=external_id).first()
    if existing is not None and not scopes.record_allowed(actor, existing, "view"):
        raise ExternalIdTaken(channel=channel, external_id=external_id)
    return existing


def interaction_create(*, actor, data: dict[str, Any], check_client_scope: bool = True) -> Interaction:
    """Log an interaction. With an external id already stored for the channel, returns that one.
    `check_client_scope=False` is for a caller that has already established the actor's right to log on these
    clients (completing a task that links them, see `kramar.activities.services.task_complete`): the contact and
    company then need only exist, not be inside the actor's own scope."""
    return interaction_create_or_get(actor=actor, data=data, check_client_scope=check_client_scope)[0]


def interaction_create_or_get(
    *, actor, data: dict[str, Any], check_client_scope: bool = True
) -> tuple[Interaction, bool]:
    """Log an interaction, idempotent on (channel, external_id): returns (the new interaction, True), or, when the
    external id is already stored for the channel, (that interaction, False) and creates nothing."""
    if not scopes.can(actor, "interaction", "create"):
        raise PermissionDenied(_("You may not log interactions."))
    values = _clean(actor, data, interaction=None, check_client_scope=check_client_scope)
    ext = values.get("external_id")
    if ext:
        existing = _stored_for(actor, values["channel"], ext)
        if existing:
            return existing, False
    try:
        with transaction.atomic():
            interaction = Interaction.objects.create(user=actor if getattr(actor, "pk", None) else None, **values)
            _clients_bump_last_contacted(interaction)
            audit_record(
                actor=actor, action=AuditEntry.Action.CREATE, obj=interaction,
                changes={k: [None, v] for k, v in snapshot(interaction).items() if v not in (None, "", {}, [])},
            )
    except IntegrityError:
        if ext:  # a concurrent ingestion of the same item won
            existing = _stored_for(actor, values["channel"], ext)
            if existing:
                return existing, False
        raise
    return interaction, True


@transaction.atomic
def interaction_update(*, actor, interaction: Interaction, data: dict[str, Any], expected_version: int | None = None) -> Interaction:
    interaction = (
        Interaction.objects.visible_to(actor, "change").select_for_update(of=("self",)).get(pk=interaction.pk)
    )
    if expected_version is not None and int(expected_version) != interaction.version:
        raise VersionConflict(current_version=interaction.version, sent_version=int(expected_version))
    values = _clean(actor, data, interaction=interaction)
    before = snapshot(interaction)
    clients_before = (interaction.contact_id, interaction.company_id, interaction.occurred_at)
    for key, value in values.items():
        setattr(interaction, key, value)
    interaction.version += 1
    interaction.save()
    if (interaction.contact_id, interaction.company_id, interaction.occurred_at) != clients_before:
        clients_last_contacted_recompute(
            contact_ids=[clients_before[0], interaction.contact_id],
            company_ids=[clients_before[1], interaction.company_id],
        )
    changes = diff(before, snapshot(interaction))
    if changes:
        audit_record(actor=actor, action=AuditEntry.Action.UPDATE, obj=interaction, changes=changes)
    return interaction


@transaction.atomic
def interaction_delete(*, actor, interaction: Interaction, expected_version: int | None = None) -> None:
    interaction = (
        Interaction.objects.visible_to(actor, "delete").select_for_update(of=("self",)).get(pk=interaction.pk)
    )
    if expected_version is not None and int(expected_version) != interaction.version:
        raise VersionConflict(current_version=interaction.version, sent_version=int(expected_version))
    audit_record(
        actor=actor, action=AuditEntry.Action.DELETE, obj=interaction,
        changes={k: [v, None] for k, v in snapshot(interaction).items()},
    )
    contact_id, company_id = interaction.contact_id, interaction.company_id
    interaction.delete()
    clients_last_contacted_recompute(contact_ids=[contact_id], company_ids=[company_id])


@transaction.atomic
def attachment_add(*, actor, interaction: Interaction, upload: UploadedFile) -> Attachment:
    """Store a file on an interaction through Django storage; files over the limit are refused."""
    if not scopes.record_allowed(actor, interaction, "change") and interaction.user_id != getattr(actor, "pk", None):
        raise PermissionDenied(_("You may not change this interaction."))
    limit = settings.KRAMAR_MAX_ATTACHMENT_BYTES
    if upload.size > limit:
        raise DomainError(
            "attachment_too_large",
            _("%(name)s is %(size)d MB; the limit is %(limit)d MB.")
            % {"name": upload.name, "size": upload.size // 2**20, "limit": limit // 2**20},
            {"limit": limit, "size": upload.size},
        )
    attachment = Attachment(
        interaction=interaction, filename=(upload.name or "file")[:255],
        content_type=(getattr(upload, "content_type", "") or "")[:128], size=upload.size,
    )
    attachment.file.save(upload.name or "file", upload, save=False)
    attachment.save()
    audit_record(
        actor=actor, action=AuditEntry.Action.UPDATE, obj=interaction,
        changes={"attachments": [None, attachment.filename]},
    )
    return attachment
