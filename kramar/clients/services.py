"""Every write to the client base: create, update, delete and bulk actions on contacts and companies.

Each service checks the actor's scope, validates every field (errors keyed by field), refuses stale
versions, maintains the derived columns (search text, match keys), and writes an audit row with the
field-level diff. Views, the API, imports and jobs all come through here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Model
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kramar.accounts.models import Team, User
from kramar.clients.duplicates import DuplicateReport, company_duplicates_find, contact_duplicates_find
from kramar.clients.models import Address, Company, Contact, ContactCompany, ContactPoint
from kramar.clients.normalize import (
    Cleaned,
    PointIn,
    company_input_clean,
    company_search_text,
    contact_input_clean,
    contact_search_text,
)
from kramar.core import scopes
from kramar.core.audit import audit_record, diff, snapshot
from kramar.core.customfields import custom_fields_clean
from kramar.core.errors import DomainError, ValidationFailed, VersionConflict
from kramar.core.identifiers import name_key
from kramar.core.models import AuditEntry, Tag


class PossibleDuplicate(DomainError):
    status = 409

    def __init__(self, report: DuplicateReport):
        super().__init__(
            "possible_duplicate",
            _("This looks like a client that is already in Kramar. Check the matches, or save anyway."),
            {"candidates": report.as_list(), "hidden_matches": report.hidden},
        )
        self.report = report


@dataclass
class BulkResult:
    changed: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)  # not found or outside the actor's scope


# ----------------------------------------------------------------------------------------- helpers


# Refusals as whole sentences, one per (entity, action), so that every language words each one in full
# (an English action code spliced into a translated sentence reads as nonsense in Ukrainian).
DENIED: dict[tuple[str, str], Any] = {
    ("contact", "view"): gettext_lazy("You may not view contacts."),
    ("contact", "create"): gettext_lazy("You may not create contacts."),
    ("contact", "change"): gettext_lazy("You may not change contacts."),
    ("contact", "delete"): gettext_lazy("You may not delete contacts."),
    ("contact", "export"): gettext_lazy("You may not export contacts."),
    ("company", "view"): gettext_lazy("You may not view companies."),
    ("company", "create"): gettext_lazy("You may not create companies."),
    ("company", "change"): gettext_lazy("You may not change companies."),
    ("company", "delete"): gettext_lazy("You may not delete companies."),
    ("company", "export"): gettext_lazy("You may not export companies."),
}
# The same for one record the actor can see but may not act on.
RECORD_DENIED: dict[tuple[str, str], Any] = {
    ("contact", "change"): gettext_lazy("You may not change this contact."),
    ("contact", "delete"): gettext_lazy("You may not delete this contact."),
    ("company", "change"): gettext_lazy("You may not change this company."),
    ("company", "delete"): gettext_lazy("You may not delete this company."),
}


def denied_message(entity: str, action: str, *, record: bool = False) -> str:
    """The refusal for `action` on `entity` records (or on one record), in the active language."""
    message = (RECORD_DENIED if record else DENIED).get((entity, action))
    return str(message) if message is not None else _("You may not do this.")


def _require(actor, entity: str, action: str) -> None:
    if not scopes.can(actor, entity, action):
        raise PermissionDenied(denied_message(entity, action))


def _assignable(actor, entity: str, action: str, owner: User | None, team: Team | None) -> bool:
    """Whether the actor may hand a record to `owner`/`team`: within their own scope for the action
    (own: only themselves; team: their teams' members and teams; all: anyone)."""
    scope = scopes.scope_for(actor, entity, action)
    if scope >= scopes.ALL:
        return True
    if scope == scopes.TEAM:
        teams = set(scopes.user_team_ids(actor))
        owner_ok = owner is None or owner.pk == actor.pk or bool(
            teams & set(owner.memberships.values_list("team_id", flat=True))
        )
        return owner_ok and (team is None or team.pk in teams)
    return (owner is None or owner.pk == actor.pk) and (team is None or team.pk in scopes.user_team_ids(actor))


def _owner_team(
    actor, data: dict[str, Any], errors: dict[str, list[str]], *, current=None, entity: str = "contact"
) -> dict[str, Any]:
    """Owner and team from the input (ids), defaulting on create to the actor and their primary team.
    An actor may assign records only within their own scope (a rep can't hand a client to another team)."""
    values: dict[str, Any] = {}
    if "owner_id" in data:
        owner_id = data["owner_id"]
        if owner_id in (None, ""):
            values["owner"] = None
        else:
            owner = User.objects.filter(pk=owner_id, is_active=True).first() if str(owner_id).isdigit() else None
            if owner is None:
                errors.setdefault("owner_id", []).append(_("no such active user"))
            else:
                values["owner"] = owner
    elif current is None:
        values["owner"] = actor
    if "team_id" in data:
        team_id = data["team_id"]
        if team_id in (None, ""):
            values["team"] = None
        else:
            team = Team.objects.filter(pk=team_id).first() if str(team_id).isdigit() else None
            if team is None:
                errors.setdefault("team_id", []).append(_("no such team"))
            else:
                values["team"] = team
    elif "owner" in values and values["owner"] is not None and (current is None or values["owner"] != current.owner):
        membership = values["owner"].memberships.order_by("-is_primary", "id").first()
        values["team"] = membership.team if membership else None
    explicit = "owner_id" in data or "team_id" in data
    if explicit and not errors.get("owner_id") and not errors.get("team_id"):
        action = "create" if current is None else "change"
        changed_owner = values.get("owner") if "owner" in values and (current is None or values["owner"] != current.owner) else None
        changed_team = values.get("team") if "team" in values and (current is None or values["team"] != current.team) else None
        if (changed_owner or changed_team) and not _assignable(actor, entity, action, changed_owner, changed_team):
            errors.setdefault("owner_id", []).append(_("You may not assign records outside your own scope."))
    return values


def _check_version(obj, expected_version: int | None) -> None:
    if expected_version is not None and int(expected_version) != obj.version:
        raise VersionConflict(current_version=obj.version, sent_version=int(expected_version))


def _points_snapshot(obj) -> list[str]:
    return sorted(f"{p.kind}:{p.normalized}{'*' if p.is_primary else ''}" for p in obj.points.all())


def _sync_points(obj, points: list[PointIn], owner_field: str, *, fresh: bool = False) -> list[ContactPoint]:
    """Replace the record's points (`fresh`: a record just created, which has none yet)."""
    if not fresh:
        ContactPoint.objects.filter(**{owner_field: obj}).delete()
    return ContactPoint.objects.bulk_create(
        [
            ContactPoint(
                **{owner_field: obj}, kind=p.kind, label=p.label, value=p.value, normalized=p.normalized,
                extension=p.extension, is_primary=p.is_primary,
            )
            for p in points
        ]
    )


def _sync_tags(obj, names: list[str], *, fresh: bool = False) -> list[Tag]:
    """Set the record's tags by name, creating missing tags (`fresh`: a record just created, which has none)."""
    existing = {t.name: t for t in Tag.objects.filter(name__in=names)}
    missing = [Tag(name=n) for n in names if n not in existing]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {t.name: t for t in Tag.objects.filter(name__in=names)}
    tags = list(existing.values())
    if fresh:
        obj.tags.add(*tags)
    else:
        obj.tags.set(tags)
    return tags


def _sync_address(obj, address: dict[str, str], owner_field: str, *, fresh: bool = False) -> Address | None:
    """Set the record's (first) address; an empty one deletes it. Returns the address kept, if any."""
    current = None if fresh else Address.objects.filter(**{owner_field: obj}).order_by("id").first()
    if not any(address.values()):
        if current:
            current.delete()
        return None
    if current is None:
        current = Address(**{owner_field: obj})
    for key, value in address.items():
        setattr(current, key, value)
    current.save()
    return current


def _address_snapshot(obj) -> str:
    first = obj.addresses.order_by("id").first()
    return str(first) if first else ""


def _related_state(obj) -> dict[str, Any]:
    state = {
        "points": _points_snapshot(obj),
        "tags": sorted(obj.tags.values_list("name", flat=True)),
        "address": _address_snapshot(obj),
    }
    if isinstance(obj, Contact):
        state["companies"] = sorted(obj.company_links.values_list("company_id", flat=True))
    return state


def _raise_if(errors: dict[str, list[str]]) -> None:
    if errors:
        raise ValidationFailed(errors)


# ----------------------------------------------------------------------------------------- contacts


def _contact_companies(actor, company_ids: list[int], errors) -> list[Company]:
    found = {c.pk: c for c in Company.objects.visible_to(actor, "view").filter(pk__in=company_ids)}
    missing = [i for i in company_ids if i not in found]
    if missing:
        errors.setdefault("company_ids", []).append(
            _("no such company: %(ids)s") % {"ids": ", ".join(map(str, missing))}
        )
    return [found[i] for i in company_ids if i in found]


def _contact_derive(contact: Contact) -> None:
    points = list(contact.points.all())
    names = list(contact.companies.values_list("name", flat=True))
    contact.search_text = contact_search_text(contact, points, names)
    contact.name_key = name_key(contact.first_name, contact.middle_name, contact.last_name)
    Contact.objects.filter(pk=contact.pk).update(search_text=contact.search_text, name_key=contact.name_key)


def _contact_apply(actor, contact: Contact, cleaned: Cleaned, companies: list[Company] | None) -> None:
    if cleaned.points is not None:
        _sync_points(contact, cleaned.points, "contact")
    if cleaned.tags is not None:
        _sync_tags(contact, cleaned.tags)
    if cleaned.address is not None:
        _sync_address(contact, cleaned.address, "contact")
    if companies is not None:
        # Links to companies the actor cannot see are not theirs to remove: they stay as they are.
        visible = Company.objects.visible_to(actor, "view").values("pk")
        keep = {c.pk for c in companies}
        contact.company_links.filter(company_id__in=visible).exclude(company_id__in=keep).delete()
        existing = set(contact.company_links.values_list("company_id", flat=True))
        for company in companies:
            if company.pk not in existing:
                ContactCompany.objects.create(contact=contact, company=company, position=contact.position)
        remaining = list(contact.company_links.values_list("company_id", "is_primary"))
        if companies:
            primary_id = companies[0].pk
        else:
            primary_id = next((cid for cid, is_primary in remaining if is_primary), None)
            primary_id = primary_id or (remaining[0][0] if remaining else None)
        contact.company_links.exclude(company_id=primary_id).filter(is_primary=True).update(is_primary=False)
        if primary_id:
            contact.company_links.filter(company_id=primary_id).update(is_primary=True)
        if contact.primary_company_id != primary_id:
            contact.primary_company_id = primary_id
            Contact.objects.filter(pk=contact.pk).update(primary_company_id=primary_id)
    _contact_derive(contact)


def contact_input_prepare(*, actor, data: dict[str, Any], contact: Contact | None = None):
    """Validate input for a contact; returns (cleaned, model values, companies) or raises ValidationFailed."""
    cleaned, errors = contact_input_clean(data, partial=contact is not None)
    values = dict(cleaned.values)
    values.update(_owner_team(actor, data, errors, current=contact, entity="contact"))
    companies = _contact_companies(actor, cleaned.company_ids, errors) if cleaned.company_ids is not None else None
    if cleaned.custom is not None or contact is None:
        try:
            values["custom"] = custom_fields_clean(
                entity="contact", values=cleaned.custom, current=contact.custom if contact else None,
                partial=contact is not None,
            )
        except ValidationFailed as exc:
            errors.update(exc.errors)
    _raise_if(errors)
    if "marketing_consent" in values and (contact is None or values["marketing_consent"] != contact.marketing_consent):
        values["consent_changed_at"] = timezone.now()
    return cleaned, values, companies


def contact_duplicates_for_input(*, actor, cleaned: Cleaned, values: dict[str, Any], companies, exclude_id=None):
    return contact_duplicates_find(
        actor=actor,
        emails=[p.normalized for p in cleaned.points or [] if p.kind == "email"],
        phones=[p.normalized for p in cleaned.points or [] if p.kind == "phone"],
        name=name_key(values.get("first_name", ""), values.get("middle_name", ""), values.get("last_name", "")),
        company_ids=[c.pk for c in companies or []],
        exclude_id=exclude_id,
    )


@transaction.atomic
def contact_create(*, actor, data: dict[str, Any], allow_duplicates: bool = False) -> Contact:
    _require(actor, "contact", "create")
    cleaned, values, companies = contact_input_prepare(actor=actor, data=data)
    if not allow_duplicates:
        report = contact_duplicates_for_input(actor=actor, cleaned=cleaned, values=values, companies=companies)
        if report:
            raise PossibleDuplicate(report)
    companies = list(dict.fromkeys(companies)) if companies is not None else None
    contact = Contact(**values)
    if companies:
        contact.primary_company = companies[0]
    # in the order the update path reads them back: points primary first, companies by name, id
    contact.search_text = contact_search_text(
        contact, sorted(cleaned.points or [], key=lambda p: not p.is_primary),
        [c.name for c in sorted(companies or [], key=lambda c: (c.name, c.pk))])
    contact.name_key = name_key(contact.first_name, contact.middle_name, contact.last_name)
    contact.save(force_insert=True)
    related = _contact_apply_fresh(contact, cleaned, companies)
    after = snapshot(contact)
    audit_record(
        actor=actor, action=AuditEntry.Action.CREATE, obj=contact,
        changes={k: [None, v] for k, v in {**after, **related}.items() if v not in (None, "", [], {})},
    )
    return contact


def _contact_apply_fresh(contact: Contact, cleaned: Cleaned, companies: list[Company] | None) -> dict[str, Any]:
    """`_contact_apply` for a contact just inserted (its search text and primary company already set from the
    input): nothing to delete or read back. Returns what `_related_state` would read, from what was written."""
    points = _sync_points(contact, cleaned.points, "contact", fresh=True) if cleaned.points else []
    tags = _sync_tags(contact, cleaned.tags, fresh=True) if cleaned.tags else []
    address = _sync_address(contact, cleaned.address, "contact", fresh=True) if cleaned.address else None
    companies = companies or []
    if companies:
        ContactCompany.objects.bulk_create([
            ContactCompany(contact=contact, company=c, position=contact.position, is_primary=i == 0)
            for i, c in enumerate(companies)
        ])
    return {
        "points": sorted(f"{p.kind}:{p.normalized}{'*' if p.is_primary else ''}" for p in points),
        "tags": sorted(t.name for t in tags),
        "address": str(address) if address else "",
        "companies": sorted(c.pk for c in companies),
    }


@transaction.atomic
def contact_update(*, actor, contact: Contact, data: dict[str, Any], expected_version: int | None = None) -> Contact:
    contact = Contact.objects.visible_to(actor, "change").select_for_update().get(pk=contact.pk)
    _check_version(contact, expected_version)
    cleaned, values, companies = contact_input_prepare(actor=actor, data=data, contact=contact)
    before = {**snapshot(contact), **_related_state(contact)}
    for key, value in values.items():
        setattr(contact, key, value)
    contact.version += 1
    contact.save()
    _contact_apply(actor, contact, cleaned, companies)
    changes = diff(before, {**snapshot(contact), **_related_state(contact)})
    if changes:
        audit_record(actor=actor, action=AuditEntry.Action.UPDATE, obj=contact, changes=changes)
    return contact


@transaction.atomic
def contact_delete(*, actor, contact: Contact, expected_version: int | None = None) -> None:
    contact = Contact.objects.visible_to(actor, "delete").select_for_update().get(pk=contact.pk)
    _check_version(contact, expected_version)
    before = {**snapshot(contact), **_related_state(contact)}
    audit_record(actor=actor, action=AuditEntry.Action.DELETE, obj=contact, changes={k: [v, None] for k, v in before.items()})
    contact.delete()


# ----------------------------------------------------------------------------------------- companies


def _company_derive(company: Company) -> None:
    company.search_text = company_search_text(company, list(company.points.all()))
    company.name_key = name_key(company.name, strip_legal_forms=True)
    Company.objects.filter(pk=company.pk).update(search_text=company.search_text, name_key=company.name_key)


def company_input_prepare(*, actor, data: dict[str, Any], company: Company | None = None):
    cleaned, errors = company_input_clean(
        data, partial=company is not None, current_country=company.country if company else "UA"
    )
    values = dict(cleaned.values)
    values.update(_owner_team(actor, data, errors, current=company, entity="company"))
    if cleaned.custom is not None or company is None:
        try:
            values["custom"] = custom_fields_clean(
                entity="company", values=cleaned.custom, current=company.custom if company else None,
                partial=company is not None,
            )
        except ValidationFailed as exc:
            errors.update(exc.errors)
    _raise_if(errors)
    return cleaned, values


def company_duplicates_for_input(*, actor, cleaned: Cleaned, values: dict[str, Any], exclude_id=None):
    return company_duplicates_find(
        actor=actor,
        code=values.get("code", ""),
        emails=[p.normalized for p in cleaned.points or [] if p.kind == "email"],
        phones=[p.normalized for p in cleaned.points or [] if p.kind == "phone"],
        name=name_key(values.get("name", ""), strip_legal_forms=True),
        exclude_id=exclude_id,
    )


def _company_apply(company: Company, cleaned: Cleaned) -> None:
    if cleaned.points is not None:
        _sync_points(company, cleaned.points, "company")
    if cleaned.tags is not None:
        _sync_tags(company, cleaned.tags)
    if cleaned.address is not None:
        _sync_address(company, cleaned.address, "company")
    _company_derive(company)


@transaction.atomic
def company_create(*, actor, data: dict[str, Any], allow_duplicates: bool = False) -> Company:
    _require(actor, "company", "create")
    cleaned, values = company_input_prepare(actor=actor, data=data)
    if not allow_duplicates:
        report = company_duplicates_for_input(actor=actor, cleaned=cleaned, values=values)
        if report:
            raise PossibleDuplicate(report)
    company = Company.objects.create(**values)
    _company_apply(company, cleaned)
    after = {**snapshot(company), **_related_state(company)}
    audit_record(
        actor=actor, action=AuditEntry.Action.CREATE, obj=company,
        changes={k: [None, v] for k, v in after.items() if v not in (None, "", [], {})},
    )
    return company


@transaction.atomic
def company_update(*, actor, company: Company, data: dict[str, Any], expected_version: int | None = None) -> Company:
    company = Company.objects.visible_to(actor, "change").select_for_update().get(pk=company.pk)
    _check_version(company, expected_version)
    cleaned, values = company_input_prepare(actor=actor, data=data, company=company)
    before = {**snapshot(company), **_related_state(company)}
    name_changed = "name" in values and values["name"] != company.name
    for key, value in values.items():
        setattr(company, key, value)
    company.version += 1
    company.save()
    _company_apply(company, cleaned)
    if name_changed:  # contacts' search text holds their companies' names
        for contact in Contact.objects.filter(company_links__company=company).distinct():
            _contact_derive(contact)
    changes = diff(before, {**snapshot(company), **_related_state(company)})
    if changes:
        audit_record(actor=actor, action=AuditEntry.Action.UPDATE, obj=company, changes=changes)
    return company


@transaction.atomic
def company_delete(*, actor, company: Company, expected_version: int | None = None) -> None:
    company = Company.objects.visible_to(actor, "delete").select_for_update().get(pk=company.pk)
    _check_version(company, expected_version)
    if company.interactions.exists():
        raise DomainError(
            "company_has_history",
            _("This company has interactions on its timeline; merge it into another company instead of deleting it."),
        )
    before = {**snapshot(company), **_related_state(company)}
    audit_record(actor=actor, action=AuditEntry.Action.DELETE, obj=company, changes={k: [v, None] for k, v in before.items()})
    company.delete()


# ----------------------------------------------------------------------------------------- bulk actions


def _bulk_targets(actor, model: type[Model], ids: list[int]) -> tuple[list, list[int]]:
    ids = list(dict.fromkeys(int(i) for i in ids))
    allowed = list(model.objects.visible_to(actor, "change").filter(pk__in=ids).select_for_update())
    allowed_ids = {o.pk for o in allowed}
    return allowed, [i for i in ids if i not in allowed_ids]


@transaction.atomic
def clients_bulk_tag(*, actor, model: type[Model], ids: list[int], tags: list[str], remove: bool = False) -> BulkResult:
    """Add (or remove) tags on many contacts or companies; records outside the actor's scope are skipped."""
    names = sorted({t.strip() for t in tags if t and t.strip()})
    if not names:
        raise ValidationFailed({"tags": [_("Name at least one tag.")]})
    targets, skipped = _bulk_targets(actor, model, ids)
    if not remove:
        Tag.objects.bulk_create([Tag(name=n) for n in names], ignore_conflicts=True)
    tag_objs = list(Tag.objects.filter(name__in=names))
    result = BulkResult(skipped=skipped)
    for obj in targets:
        before = sorted(obj.tags.values_list("name", flat=True))
        (obj.tags.remove if remove else obj.tags.add)(*tag_objs)
        after = sorted(obj.tags.values_list("name", flat=True))
        if before != after:
            type(obj).objects.filter(pk=obj.pk).update(version=obj.version + 1, updated_at=timezone.now())
            audit_record(actor=actor, action=AuditEntry.Action.UPDATE, obj=obj, changes={"tags": [before, after]})
            result.changed.append(obj.pk)
    return result


@transaction.atomic
def clients_bulk_set_owner(*, actor, model: type[Model], ids: list[int], owner_id: int) -> BulkResult:
    """Hand many contacts or companies to another user (their team follows the new owner)."""
    errors: dict[str, list[str]] = {}
    values = _owner_team(actor, {"owner_id": owner_id}, errors, current=model(), entity=model.scope_entity)
    _raise_if(errors)
    owner = values["owner"]
    team = values.get("team")
    if team is None and owner is not None:
        membership = owner.memberships.order_by("-is_primary", "id").first()
        team = membership.team if membership else None
    targets, skipped = _bulk_targets(actor, model, ids)
    result = BulkResult(skipped=skipped)
    for obj in targets:
        if obj.owner_id == (owner.pk if owner else None):
            continue
        changes = {"owner": [obj.owner_id, owner.pk if owner else None], "team": [obj.team_id, team.pk if team else None]}
        type(obj).objects.filter(pk=obj.pk).update(
            owner=owner, team=team, version=obj.version + 1, updated_at=timezone.now()
        )
        audit_record(actor=actor, action=AuditEntry.Action.UPDATE, obj=obj, changes=changes)
        result.changed.append(obj.pk)
    return result
