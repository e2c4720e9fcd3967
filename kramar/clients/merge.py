"""Merging duplicate contacts or companies, and undoing a merge.

Rules (decided here, used by the pages and the API):

- The actor needs the "change" scope on BOTH records (guarded fetch: a record outside it is a 404).
  "delete" is NOT required on the loser: a merge destroys nothing — every related row moves to the
  survivor, rows dropped as exact duplicates are kept in the journal, the loser row stays (hidden
  through `merged_into`) and the whole merge can be undone. A sales rep, who may not delete clients,
  can therefore merge two of their own duplicates, which is the common case.
- Scalar fields: one choice per field (or field group) — "survivor" or "loser". A field not named in
  `choices` keeps the survivor's value unless that is empty and the loser's is not (fill the blanks).
  Custom fields are chosen per key (`custom.<key>`).
- Related rows: every foreign key of every model that points at the entity moves (found generically
  from the app registry, so rows of later modules — deals, segments' M2M through tables — move with
  no change here). Rows that would break a unique constraint on the survivor (the same tag, the same
  company link) and contact points that are exact duplicates (same kind and normalized value) are
  deleted and stored whole in the journal. A duplicate that other rows point at is not deleted: the
  merge is refused instead, so nothing is lost through a cascade.
- Undo restores the survivor's fields that the merge changed (a field edited by a user after the
  merge keeps the newer value; the audit row lists such fields), moves back every moved row still on
  the survivor, re-creates the dropped duplicates, un-hides the loser. It is refused when already
  undone, and when the survivor itself was merged into another record later: undo that later merge
  first (so undoing always happens in the reverse order of merging).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import models, transaction
from django.db.models import F, Q, QuerySet
from django.http import Http404
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kramar.accounts.models import Team, User
from kramar.clients.duplicates import Candidate, company_duplicates_find, contact_duplicates_find
from kramar.clients.models import Company, Contact, ContactCompany, ContactPoint, MergeRecord
from kramar.clients.services import _company_derive, _contact_derive, _related_state
from kramar.core import scopes
from kramar.core.audit import _plain, audit_record, diff, snapshot
from kramar.core.errors import DomainError, ValidationFailed
from kramar.core.models import AuditEntry, CustomFieldDefinition
from kramar.search.backends import parse_query, search_ranked

SURVIVOR, LOSER = "survivor", "loser"
ENTITIES: dict[str, type[models.Model]] = {"contact": Contact, "company": Company}

# Rows that are the same thing although no constraint says so: dropped (and journalled) on merge.
DEDUPE_KEYS: dict[str, tuple[str, ...]] = {"clients.contactpoint": ("kind", "normalized")}


class MergeRefused(DomainError):
    """The merge or its undo conflicts with the records' current state."""

    status = 409


@dataclass(frozen=True)
class MergeField:
    key: str  # choice key: a field name, a group name or "custom.<key>"
    fields: tuple[str, ...]  # model fields that move together
    label: Any


CONTACT_MERGE_FIELDS: tuple[MergeField, ...] = (
    MergeField("first_name", ("first_name",), gettext_lazy("first name")),
    MergeField("middle_name", ("middle_name",), gettext_lazy("middle name")),
    MergeField("last_name", ("last_name",), gettext_lazy("last name")),
    MergeField("position", ("position",), gettext_lazy("position")),
    MergeField("primary_company", ("primary_company",), gettext_lazy("company")),
    MergeField("birthday", ("birthday",), gettext_lazy("birthday")),
    MergeField("language", ("language",), gettext_lazy("language")),
    MergeField("preferred_channel", ("preferred_channel",), gettext_lazy("preferred channel")),
    MergeField("messengers", ("messengers",), gettext_lazy("messengers")),
    MergeField(
        "marketing_consent",
        ("marketing_consent", "consent_changed_at", "consent_method"),
        gettext_lazy("marketing consent"),
    ),
    MergeField("lifecycle_stage", ("lifecycle_stage",), gettext_lazy("lifecycle stage")),
    MergeField("source", ("source",), gettext_lazy("source")),
    MergeField("notes", ("notes",), gettext_lazy("notes")),
    MergeField("owner", ("owner", "team"), gettext_lazy("owner and team")),
)
COMPANY_MERGE_FIELDS: tuple[MergeField, ...] = (
    MergeField("name", ("name",), gettext_lazy("name")),
    MergeField("legal_name", ("legal_name",), gettext_lazy("legal name")),
    MergeField("country", ("country",), gettext_lazy("country")),
    MergeField("code", ("code",), gettext_lazy("company code")),
    MergeField("vat_number", ("vat_number",), gettext_lazy("VAT number")),
    MergeField("industry", ("industry",), gettext_lazy("industry")),
    MergeField("size", ("size",), gettext_lazy("size")),
    MergeField("website", ("website",), gettext_lazy("website")),
    MergeField("lifecycle_stage", ("lifecycle_stage",), gettext_lazy("lifecycle stage")),
    MergeField("source", ("source",), gettext_lazy("source")),
    MergeField("notes", ("notes",), gettext_lazy("notes")),
    MergeField("owner", ("owner", "team"), gettext_lazy("owner and team")),
)
_MISSING = object()


@dataclass
class MergeResult:
    survivor: Contact | Company
    loser: Contact | Company
    record: MergeRecord


# ----------------------------------------------------------------------------------------- fields


def _entity_of(model: type[models.Model]) -> str:
    return model.scope_entity  # type: ignore[attr-defined]


def merge_fields(survivor, loser) -> list[MergeField]:
    """The choosable fields for this pair: the model's fields plus every custom key either one holds."""
    base = CONTACT_MERGE_FIELDS if isinstance(survivor, Contact) else COMPANY_MERGE_FIELDS
    keys = sorted(set(survivor.custom or {}) | set(loser.custom or {}))
    labels = (
        dict(
            CustomFieldDefinition.objects.filter(entity=_entity_of(type(survivor)), key__in=keys).values_list(
                "key", "label"
            )
        )
        if keys
        else {}
    )
    return [*base, *(MergeField(f"custom.{k}", (), labels.get(k, k)) for k in keys)]


def _value(obj, mf: MergeField) -> Any:
    """The JSON-plain value of a choice for one record (a dict for field groups)."""
    if mf.key.startswith("custom."):
        return (obj.custom or {}).get(mf.key[7:], _MISSING)
    if len(mf.fields) == 1:
        return _plain(getattr(obj, obj._meta.get_field(mf.fields[0]).attname))
    return {f: _plain(getattr(obj, obj._meta.get_field(f).attname)) for f in mf.fields}


def _blank(value: Any) -> bool:
    if value is _MISSING or value in (None, "", [], {}):
        return True
    if isinstance(value, dict):
        return all(_blank(v) for v in value.values())
    return False


def merge_default_choices(survivor, loser) -> dict[str, str]:
    """Survivor's value, unless it is empty and the loser's is not."""
    return {
        mf.key: LOSER if _blank(_value(survivor, mf)) and not _blank(_value(loser, mf)) else SURVIVOR
        for mf in merge_fields(survivor, loser)
    }


def _choices_clean(survivor, loser, choices: dict[str, str] | None) -> dict[str, str]:
    resolved = merge_default_choices(survivor, loser)
    errors: dict[str, list[str]] = {}
    for key, choice in (choices or {}).items():
        if key not in resolved:
            errors.setdefault(f"choices.{key}", []).append(_("unknown field"))
        elif choice not in (SURVIVOR, LOSER):
            errors.setdefault(f"choices.{key}", []).append(_('must be "survivor" or "loser"'))
        else:
            resolved[key] = choice
    if errors:
        raise ValidationFailed(errors)
    return resolved


def _set_value(obj, mf: MergeField, value: Any) -> None:
    if mf.key.startswith("custom."):
        custom = dict(obj.custom or {})
        if value is _MISSING:
            custom.pop(mf.key[7:], None)
        else:
            custom[mf.key[7:]] = value
        obj.custom = custom
        return
    values = value if len(mf.fields) > 1 else {mf.fields[0]: value}
    for name in mf.fields:
        f = obj._meta.get_field(name)
        raw = values.get(name)
        setattr(obj, f.attname, raw if f.is_relation or raw is None else f.to_python(raw))


def _model_fields(mfs: list[MergeField], keys) -> list[str]:
    names: list[str] = []
    for mf in mfs:
        if mf.key in keys:
            names.extend(mf.fields or ("custom",))
    return list(dict.fromkeys(names))


# ----------------------------------------------------------------------------------------- relations


@dataclass(frozen=True)
class Relation:
    """A foreign key of some model (auto-created M2M through tables included) pointing at the entity."""

    model: type[models.Model]
    field: models.ForeignKey

    @property
    def key(self) -> str:
        return f"{self.model._meta.label_lower}.{self.field.name}"

    @property
    def label(self) -> str:
        meta = self.model._meta
        if meta.auto_created:  # an M2M through table: name it after the M2M field or its owner
            owner = meta.auto_created
            for m2m in owner._meta.many_to_many:
                if m2m.remote_field.through is self.model:
                    if owner is self.field.remote_field.model:
                        return str(m2m.verbose_name)
                    return str(owner._meta.verbose_name_plural)
        if self.model is Contact:
            return f"{meta.verbose_name_plural} ({self.field.verbose_name})"
        return str(meta.verbose_name_plural)

    def rows(self, pk: int) -> QuerySet:
        return self.model._base_manager.filter(**{self.field.attname: pk})


def _foreign_keys_to(model: type[models.Model]) -> list[Relation]:
    found = []
    for m in apps.get_models(include_auto_created=True):
        if m._meta.proxy or not m._meta.managed:
            continue
        for f in m._meta.concrete_fields:
            if (f.many_to_one or f.one_to_one) and f.remote_field.model is model:
                found.append(Relation(m, f))
    return sorted(found, key=lambda r: r.key)


def merge_relations(model: type[models.Model]) -> list[Relation]:
    """Every FK pointing at `model` from any installed model (M2M through tables included), except
    the merge pointer itself."""
    return [r for r in _foreign_keys_to(model) if not (r.model is model and r.field.name == "merged_into")]


def _unique_keys(rel: Relation) -> list[tuple[tuple[str, ...], Q | None]]:
    """(other columns, condition) of each uniqueness rule that includes the relation's FK, plus the
    exact-duplicate key of the model. A loser row whose other columns equal a survivor row's collides."""
    meta = rel.model._meta
    fk = rel.field
    found: list[tuple[tuple[str, ...], Q | None]] = []
    if fk.unique:
        found.append(((), None))
    for together in meta.unique_together:
        if fk.name in together:
            found.append((tuple(meta.get_field(n).attname for n in together if n != fk.name), None))
    for c in meta.constraints:
        if isinstance(c, models.UniqueConstraint) and c.fields and not c.expressions and fk.name in c.fields:
            found.append((tuple(meta.get_field(n).attname for n in c.fields if n != fk.name), c.condition))
    dedupe = DEDUPE_KEYS.get(meta.label_lower)
    if dedupe:
        found.append((tuple(meta.get_field(n).attname for n in dedupe), None))
    return found


def _colliding(rel: Relation, survivor_pk: int, loser_pk: int) -> list[int]:
    """Loser rows that would duplicate a survivor row once moved."""
    hits: list[int] = []
    for cols, condition in _unique_keys(rel):
        survivor_rows = rel.rows(survivor_pk)
        loser_rows = rel.rows(loser_pk).exclude(pk__in=hits)
        if condition is not None:
            survivor_rows, loser_rows = survivor_rows.filter(condition), loser_rows.filter(condition)
        if not cols:
            if survivor_rows.exists():
                hits.extend(loser_rows.values_list("pk", flat=True))
            continue
        taken = {tuple(r) for r in survivor_rows.values_list(*cols)}
        hits.extend(
            pk
            for pk, *vals in loser_rows.values_list("pk", *cols)
            if None not in vals and tuple(vals) in taken
        )
    return hits


def _row_data(obj: models.Model) -> dict[str, Any]:
    return {f.attname: _plain(getattr(obj, f.attname)) for f in obj._meta.concrete_fields}


def _referenced_by(obj: models.Model) -> list[str]:
    """Names of the kinds of rows (M2M through rows included) that point at `obj`."""
    return [
        str(rel.model._meta.verbose_name_plural)
        for rel in _foreign_keys_to(type(obj))
        if rel.rows(obj.pk).exists()
    ]


# ----------------------------------------------------------------------------------------- merge


def _lock_pair(model, actor, a_pk: int, b_pk: int) -> dict[int, Any]:
    """Lock both rows, lower id first; a record outside the actor's "change" scope is a 404."""
    locked = {}
    for pk in sorted({a_pk, b_pk}):
        try:
            locked[pk] = model.objects.visible_to(actor, "change").select_for_update().get(pk=pk)
        except model.DoesNotExist as exc:
            raise Http404(f"No such {_entity_of(model)}") from exc
    return locked


def _derive(obj) -> None:
    (_contact_derive if isinstance(obj, Contact) else _company_derive)(obj)


def _state(obj) -> dict[str, Any]:
    return {**snapshot(obj), **_related_state(obj)}


def _primary_flags(survivor, loser_moved: dict[str, list[int]], had_primary: dict[str, bool]) -> list[dict]:
    """Keep one primary e-mail, one primary phone and one primary company link on the survivor.
    Returns the flags changed, with their old values, for undo."""
    changed: list[dict] = []
    owner_field = "contact" if isinstance(survivor, Contact) else "company"
    moved_points = loser_moved.get(f"clients.contactpoint.{owner_field}", [])
    for kind, had in had_primary.items():
        if not had:
            continue
        demote = list(
            ContactPoint.objects.filter(pk__in=moved_points, kind=kind, is_primary=True).values_list(
                "pk", flat=True
            )
        )
        ContactPoint.objects.filter(pk__in=demote).update(is_primary=False)
        changed += [
            {"model": "clients.contactpoint", "pk": pk, "field": "is_primary", "old": True} for pk in demote
        ]
    if isinstance(survivor, Contact):
        links = list(survivor.company_links.all())
        moved_links = set(loser_moved.get("clients.contactcompany.contact", []))
        if survivor.primary_company_id and any(
            link.company_id == survivor.primary_company_id for link in links
        ):
            target = {link.pk for link in links if link.company_id == survivor.primary_company_id}
        else:  # no primary company: the survivor's own primary link stays primary
            primaries = [link for link in links if link.is_primary]
            own = [link for link in primaries if link.pk not in moved_links]
            target = {(own or primaries)[0].pk} if primaries else set()
        for link in links:
            want = link.pk in target
            if link.is_primary != want:
                ContactCompany.objects.filter(pk=link.pk).update(is_primary=want)
                changed.append(
                    {
                        "model": "clients.contactcompany",
                        "pk": link.pk,
                        "field": "is_primary",
                        "old": link.is_primary,
                    }
                )
    return changed


def _company_link_flags(survivor: Company, removed_links: list[dict]) -> list[dict]:
    """A contact linked to both companies loses its link to the loser; if that one was its primary
    link, the kept link to the survivor becomes primary."""
    changed = []
    for row in removed_links:
        if not row.get("is_primary"):
            continue
        link = ContactCompany.objects.filter(
            contact_id=row["contact_id"], company=survivor, is_primary=False
        ).first()
        if link is not None:
            ContactCompany.objects.filter(pk=link.pk).update(is_primary=True)
            changed.append(
                {"model": "clients.contactcompany", "pk": link.pk, "field": "is_primary", "old": False}
            )
    return changed


def _touch(model: type[models.Model]) -> dict[str, Any]:
    """Extra column updates for a moved row: a new version and updated time where the model has them."""
    names = {f.name for f in model._meta.concrete_fields}
    extra: dict[str, Any] = {}
    if "version" in names:
        extra["version"] = F("version") + 1
    if "updated_at" in names:
        extra["updated_at"] = timezone.now()
    return extra


def _linked_contact_ids(record: MergeRecord) -> set[int]:
    ids = set(
        ContactCompany.objects.filter(
            pk__in=record.moved.get("clients.contactcompany.company", [])
        ).values_list("contact_id", flat=True)
    )
    ids |= {row["contact_id"] for row in record.removed.get("clients.contactcompany", [])}
    ids |= set(record.moved.get("clients.contact.primary_company", []))
    return ids


def _merge(*, actor, model, survivor, loser, choices: dict[str, str] | None) -> MergeResult:
    if survivor.pk == loser.pk:
        raise DomainError("merge_same_record", _("A record cannot be merged with itself."))
    locked = _lock_pair(model, actor, survivor.pk, loser.pk)
    survivor, loser = locked[survivor.pk], locked[loser.pk]
    mfs = merge_fields(survivor, loser)
    resolved = _choices_clean(survivor, loser, choices)
    survivor_state, loser_state = _state(survivor), _state(loser)

    # Field values: remember what the survivor had and what it got, for undo.
    fields_before: dict[str, Any] = {}
    fields_merged: dict[str, Any] = {}
    absent: list[str] = []  # custom keys the survivor did not have
    for mf in mfs:
        if resolved[mf.key] != LOSER:
            continue
        old, new = _value(survivor, mf), _value(loser, mf)
        if old == new:
            continue
        fields_before[mf.key] = None if old is _MISSING else old
        fields_merged[mf.key] = None if new is _MISSING else new
        if old is _MISSING:
            absent.append(mf.key)
        _set_value(survivor, mf, new)

    had_primary = {
        kind: survivor.points.filter(kind=kind, is_primary=True).exists() for kind in ("email", "phone")
    }

    # Related rows: drop collisions (journalled), move the rest.
    moved: dict[str, list[int]] = {}
    removed: dict[str, list[dict]] = {}
    for rel in merge_relations(model):
        hits = _colliding(rel, survivor.pk, loser.pk)
        if hits:
            rows = list(rel.model._base_manager.filter(pk__in=hits))
            for row in rows:
                refs = _referenced_by(row)
                if refs:
                    raise MergeRefused(
                        "merge_conflict",
                        _(
                            "Both records have the same %(what)s, and other records (%(refs)s) point at the copy "
                            "that would be dropped. Resolve that first."
                        )
                        % {"what": rel.model._meta.verbose_name, "refs": ", ".join(refs)},
                        {"model": rel.model._meta.label_lower, "pk": row.pk},
                    )
                removed.setdefault(rel.model._meta.label_lower, []).append(_row_data(row))
            rel.model._base_manager.filter(pk__in=hits).delete()
        pks = list(rel.rows(loser.pk).values_list("pk", flat=True))
        if pks:
            rel.model._base_manager.filter(pk__in=pks).update(
                **{rel.field.attname: survivor.pk}, **_touch(rel.model)
            )
            moved[rel.key] = pks

    flags = _primary_flags(survivor, moved, had_primary)
    if isinstance(survivor, Company):
        flags += _company_link_flags(survivor, removed.get("clients.contactcompany", []))

    survivor.version += 1
    survivor.save(update_fields=[*_model_fields(mfs, fields_merged), "version", "updated_at"])
    loser.merged_into = survivor
    loser.version += 1
    loser.save(update_fields=["merged_into", "version", "updated_at"])
    _derive(survivor)
    _derive(loser)

    record = MergeRecord.objects.create(
        entity=_entity_of(model),
        survivor_id=survivor.pk,
        loser_id=loser.pk,
        actor=actor if actor.pk else None,
        survivor_before={
            "fields": fields_before,
            "merged": fields_merged,
            "absent": absent,
            "flags": flags,
            "state": survivor_state,
        },
        moved=moved,
        removed=removed,
    )
    if isinstance(survivor, Company):
        for contact in Contact.objects.filter(pk__in=_linked_contact_ids(record)):
            _contact_derive(contact)

    counts = {
        "moved": {k: len(v) for k, v in moved.items()},
        "removed": {k: len(v) for k, v in removed.items()},
    }
    audit_record(
        actor=actor,
        action=AuditEntry.Action.MERGE,
        obj=survivor,
        changes=diff(survivor_state, _state(survivor)),
        extra={"merge_id": record.pk, "role": SURVIVOR, "other_id": loser.pk, "other": str(loser), **counts},
    )
    audit_record(
        actor=actor,
        action=AuditEntry.Action.MERGE,
        obj=loser,
        changes=diff(loser_state, _state(loser)),
        extra={
            "merge_id": record.pk,
            "role": LOSER,
            "other_id": survivor.pk,
            "other": str(survivor),
            **counts,
        },
    )
    return MergeResult(survivor=survivor, loser=loser, record=record)


@transaction.atomic
def contacts_merge(
    *, actor, survivor: Contact, loser: Contact, choices: dict[str, str] | None = None
) -> MergeResult:
    """Merge `loser` into `survivor` (see the module notes for the rules)."""
    return _merge(actor=actor, model=Contact, survivor=survivor, loser=loser, choices=choices)


@transaction.atomic
def companies_merge(
    *, actor, survivor: Company, loser: Company, choices: dict[str, str] | None = None
) -> MergeResult:
    """Merge company `loser` into `survivor`; its people, links and primary-company pointers follow."""
    return _merge(actor=actor, model=Company, survivor=survivor, loser=loser, choices=choices)


# ----------------------------------------------------------------------------------------- undo


def _restore_row(model: type[models.Model], data: dict[str, Any]) -> bool:
    """Re-create a dropped row from its journal data; False when a row it points at is gone."""
    values: dict[str, Any] = {}
    for f in model._meta.concrete_fields:
        if f.attname not in data:
            continue
        raw = data[f.attname]
        if f.is_relation:
            if raw is not None and not f.remote_field.model._base_manager.filter(pk=raw).exists():
                return False
            values[f.attname] = raw
        else:
            values[f.attname] = raw if raw is None else f.to_python(raw)
    pk_name = model._meta.pk.attname
    if model._base_manager.filter(pk=values.get(pk_name)).exists():
        values.pop(pk_name, None)
    model._base_manager.create(**values)
    return True


@transaction.atomic
def merge_undo(*, actor, record: MergeRecord) -> MergeRecord:
    """Undo one merge (see the module notes): refused when already undone or when the survivor was
    merged into another record since."""
    record = MergeRecord.objects.select_for_update().get(pk=record.pk)
    model = ENTITIES[record.entity]
    rows = {
        o.pk: o
        for o in model._base_manager.select_for_update()
        .filter(pk__in=[record.survivor_id, record.loser_id])
        .order_by("pk")
    }
    survivor, loser = rows.get(record.survivor_id), rows.get(record.loser_id)
    for obj in (survivor, loser):
        if obj is not None and not scopes.record_allowed(actor, obj, "change"):
            raise Http404("No such merge")
    if record.undone_at is not None:
        raise MergeRefused("merge_already_undone", _("This merge was already undone."))
    if survivor is None or loser is None:
        raise MergeRefused(
            "merge_undo_impossible", _("One of the merged records was deleted; this merge cannot be undone.")
        )
    if survivor.merged_into_id is not None:
        raise MergeRefused(
            "merge_undo_blocked",
            _(
                "“%(survivor)s” was merged into another record (#%(other)s) after this merge. Undo that merge first."
            )
            % {"survivor": survivor, "other": survivor.merged_into_id},
            {"merged_into": survivor.merged_into_id},
        )
    if loser.merged_into_id != survivor.pk:
        raise MergeRefused(
            "merge_undo_impossible", _("The merged-away record is no longer merged into the survivor.")
        )
    survivor_state, loser_state = _state(survivor), _state(loser)

    # Fields the merge changed, unless someone edited them since.
    mfs = {mf.key: mf for mf in merge_fields(survivor, loser)}
    before, merged = record.survivor_before.get("fields", {}), record.survivor_before.get("merged", {})
    restored, kept = [], []
    for key, old in before.items():
        if key not in mfs:
            continue
        mf = mfs[key]
        current = _value(survivor, mf)
        if (None if current is _MISSING else current) != merged.get(key):
            kept.append(key)
            continue
        _set_value(survivor, mf, _MISSING if key in record.survivor_before.get("absent", []) else old)
        restored.append(key)

    for flag in record.survivor_before.get("flags", []):
        flag_model = apps.get_model(flag["model"])
        flag_model._base_manager.filter(pk=flag["pk"]).update(**{flag["field"]: flag["old"]})

    for key, pks in record.moved.items():
        label, field_name = key.rsplit(".", 1)
        try:
            rel_model = apps.get_model(label)
        except LookupError:
            continue
        attname = rel_model._meta.get_field(field_name).attname
        rel_model._base_manager.filter(pk__in=pks, **{attname: survivor.pk}).update(
            **{attname: loser.pk}, **_touch(rel_model)
        )

    not_restored = 0
    for label, rows_data in record.removed.items():
        rel_model = apps.get_model(label)
        for data in rows_data:
            if not _restore_row(rel_model, data):
                not_restored += 1

    survivor.version += 1
    survivor.save(update_fields=[*_model_fields(list(mfs.values()), restored), "version", "updated_at"])
    loser.merged_into = None
    loser.version += 1
    loser.save(update_fields=["merged_into", "version", "updated_at"])
    _derive(survivor)
    _derive(loser)
    if isinstance(survivor, Company):
        for contact in Contact.objects.filter(pk__in=_linked_contact_ids(record)):
            _contact_derive(contact)

    record.undone_at = timezone.now()
    record.undone_by = actor if actor.pk else None
    record.save(update_fields=["undone_at", "undone_by"])
    extra = {"merge_id": record.pk, "kept_later_edits": kept, "rows_not_restored": not_restored}
    audit_record(
        actor=actor,
        action=AuditEntry.Action.UNMERGE,
        obj=survivor,
        changes=diff(survivor_state, _state(survivor)),
        extra={**extra, "role": SURVIVOR, "other_id": loser.pk, "other": str(loser)},
    )
    audit_record(
        actor=actor,
        action=AuditEntry.Action.UNMERGE,
        obj=loser,
        changes=diff(loser_state, _state(loser)),
        extra={**extra, "role": LOSER, "other_id": survivor.pk, "other": str(survivor)},
    )
    return record


# ----------------------------------------------------------------------------------------- selectors


def _ids_in_scope(model, actor, action: str = "view") -> QuerySet:
    """Ids of the actor's records in scope, merged-away ones included (the journal shows both sides)."""
    return scopes.restrict(model.objects.all(), actor, action).values("pk")


def merge_list(*, actor, entity: str | None = None) -> QuerySet[MergeRecord]:
    """Merges the actor can see: the survivor or the loser is within their view scope."""
    q = Q(pk__in=[])
    for name, model in ENTITIES.items():
        if entity and entity != name:
            continue
        if scopes.scope_for(actor, name, "view") >= scopes.ALL:
            q |= Q(entity=name)
            continue
        ids = _ids_in_scope(model, actor)
        q |= Q(entity=name) & (Q(survivor_id__in=ids) | Q(loser_id__in=ids))
    return MergeRecord.objects.filter(q).select_related("actor", "undone_by").order_by("-created_at", "-id")


def merge_get(*, actor, pk: Any) -> MergeRecord:
    try:
        return merge_list(actor=actor).get(pk=int(pk))
    except (MergeRecord.DoesNotExist, TypeError, ValueError) as exc:
        raise Http404("No such merge") from exc


def merge_record_objects(record: MergeRecord) -> tuple[Any, Any]:
    """The survivor and the loser rows of a journal entry (hidden ones too; None when deleted)."""
    model = ENTITIES[record.entity]
    rows = model._base_manager.in_bulk([record.survivor_id, record.loser_id])
    return rows.get(record.survivor_id), rows.get(record.loser_id)


def merge_for_changeable(*, actor, entity: str, pk: Any):
    """Guarded fetch of one side of a merge: the actor must be able to change it."""
    model = ENTITIES[entity]
    try:
        return model.objects.visible_to(actor, "change").get(pk=int(pk))
    except (model.DoesNotExist, TypeError, ValueError) as exc:
        raise Http404(f"No such {entity}") from exc


def merge_candidates(*, actor, obj, query: str = "", limit: int = 20) -> tuple[list[Candidate], list]:
    """Likely duplicates of `obj` (from the duplicates finder) and free-search hits, both limited to
    records the actor may change."""
    model = type(obj)
    points = list(obj.points.all())
    emails = [p.normalized for p in points if p.kind == "email"]
    phones = [p.normalized for p in points if p.kind == "phone"]
    if isinstance(obj, Contact):
        report = contact_duplicates_find(
            actor=actor,
            emails=emails,
            phones=phones,
            name=obj.name_key,
            company_ids=list(obj.company_links.values_list("company_id", flat=True)),
            exclude_id=obj.pk,
        )
    else:
        report = company_duplicates_find(
            actor=actor, code=obj.code, emails=emails, phones=phones, name=obj.name_key, exclude_id=obj.pk
        )
    changeable = model.objects.visible_to(actor, "change")
    allowed = set(
        changeable.filter(pk__in=[c.obj.pk for c in report.candidates]).values_list("pk", flat=True)
    )
    likely = [c for c in report.candidates if c.obj.pk in allowed]
    found: list = []
    tokens = parse_query(query)
    if tokens:
        ranked = search_ranked(queryset=changeable.exclude(pk=obj.pk), tokens=tokens, limit=limit)
        rows = model.objects.in_bulk([r.id for r in ranked])
        found = [rows[r.id] for r in ranked if r.id in rows]
    return likely, found


@dataclass
class PreviewRow:
    key: str
    label: str
    survivor: str
    loser: str
    choice: str
    same: bool


@dataclass
class PreviewCount:
    key: str
    label: str
    survivor: int
    loser: int
    duplicates: int  # loser rows that are dropped as duplicates (kept in the journal)

    @property
    def moving(self) -> int:
        return self.loser - self.duplicates


@dataclass
class MergePreview:
    entity: str
    survivor: Any
    loser: Any
    rows: list[PreviewRow] = field(default_factory=list)
    counts: list[PreviewCount] = field(default_factory=list)

    @property
    def moving(self) -> int:
        return sum(c.moving for c in self.counts)


def _display(obj, mf: MergeField) -> str:
    if mf.key.startswith("custom."):
        value = (obj.custom or {}).get(mf.key[7:], "")
        return (
            ", ".join(map(str, value)) if isinstance(value, list) else ("" if value is None else str(value))
        )
    parts = []
    for name in mf.fields:
        f = obj._meta.get_field(name)
        if f.is_relation:
            value = getattr(obj, name)
        elif f.choices:
            value = getattr(obj, f"get_{name}_display")()
        else:
            value = getattr(obj, name)
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in value.items())
        elif isinstance(value, dt.date):
            value = formats.localize(value)
        if value not in (None, ""):
            parts.append(str(value))
    return " · ".join(parts)


def merge_preview(*, actor, entity: str, survivor_id: Any, loser_id: Any) -> MergePreview:
    """Side by side: one row per choosable field with the default choice, and per kind of related row
    how many each side has and how many of the loser's would be dropped as duplicates."""
    survivor = merge_for_changeable(actor=actor, entity=entity, pk=survivor_id)
    loser = merge_for_changeable(actor=actor, entity=entity, pk=loser_id)
    if survivor.pk == loser.pk:
        raise DomainError("merge_same_record", _("A record cannot be merged with itself."))
    preview = MergePreview(entity=entity, survivor=survivor, loser=loser)
    defaults = merge_default_choices(survivor, loser)
    for mf in merge_fields(survivor, loser):
        preview.rows.append(
            PreviewRow(
                key=mf.key,
                label=str(mf.label),
                survivor=_display(survivor, mf),
                loser=_display(loser, mf),
                choice=defaults[mf.key],
                same=_value(survivor, mf) == _value(loser, mf),
            )
        )
    for rel in merge_relations(type(survivor)):
        on_loser = rel.rows(loser.pk).count()
        on_survivor = rel.rows(survivor.pk).count()
        if not (on_loser or on_survivor):
            continue
        preview.counts.append(
            PreviewCount(
                key=rel.key,
                label=rel.label,
                survivor=on_survivor,
                loser=on_loser,
                duplicates=len(_colliding(rel, survivor.pk, loser.pk)) if on_loser else 0,
            )
        )
    return preview


def merge_latest_for(*, actor, obj) -> MergeRecord | None:
    """The newest not-undone merge into `obj` the actor could undo (for an "Undo merge" button on a card)."""
    record = (
        MergeRecord.objects.filter(entity=_entity_of(type(obj)), survivor_id=obj.pk, undone_at__isnull=True)
        .order_by("-created_at", "-id")
        .first()
    )
    if record is None or not scopes.record_allowed(actor, obj, "change"):
        return None
    return record


@dataclass
class JournalRow:
    record: MergeRecord
    survivor: Any  # the row, or None when deleted since
    loser: Any
    can_undo: bool = False


def _undo_offered(actor, record: MergeRecord, survivor, loser) -> bool:
    return (
        record.undone_at is None
        and survivor is not None
        and loser is not None
        and survivor.merged_into_id is None
        and loser.merged_into_id == survivor.pk
        and scopes.record_allowed(actor, survivor, "change")
        and scopes.record_allowed(actor, loser, "change")
    )


def merge_journal_rows(records, *, actor) -> list[JournalRow]:
    """Journal entries with both records loaded (one query per entity for the whole page)."""
    records = list(records)
    loaded: dict[str, dict[int, Any]] = {}
    for name, model in ENTITIES.items():
        ids = {i for r in records if r.entity == name for i in (r.survivor_id, r.loser_id)}
        loaded[name] = model._base_manager.in_bulk(ids) if ids else {}
    rows = []
    for r in records:
        survivor, loser = loaded[r.entity].get(r.survivor_id), loaded[r.entity].get(r.loser_id)
        rows.append(JournalRow(r, survivor, loser, _undo_offered(actor, r, survivor, loser)))
    return rows


@dataclass
class RecordDetail:
    survivor: Any
    loser: Any
    fields: list[tuple[str, Any, Any]]  # label, survivor's value before, value taken from the loser
    moved: list[tuple[str, int]]
    removed: list[tuple[str, int]]
    can_undo: bool
    blocked: str  # why undo is not offered, when it is not


def merge_record_detail(*, actor, record: MergeRecord) -> RecordDetail:
    survivor, loser = merge_record_objects(record)
    model = ENTITIES[record.entity]
    labels = {r.key: r.label for r in merge_relations(model)}
    field_labels = {
        mf.key: str(mf.label) for mf in (CONTACT_MERGE_FIELDS if model is Contact else COMPANY_MERGE_FIELDS)
    }
    before = record.survivor_before.get("fields", {})
    merged = record.survivor_before.get("merged", {})
    fields = [
        (field_labels.get(k, k.removeprefix("custom.")), _readable(k, before[k]), _readable(k, merged.get(k)))
        for k in before
    ]
    moved = [(labels.get(k, k), len(v)) for k, v in sorted(record.moved.items())]
    by_model = {r.model._meta.label_lower: r.label for r in merge_relations(model)}
    removed = [(by_model.get(k, k), len(v)) for k, v in sorted(record.removed.items())]
    blocked = ""
    if record.undone_at is not None:
        blocked = _("This merge was already undone.")
    elif survivor is None or loser is None:
        blocked = _("One of the merged records was deleted; this merge cannot be undone.")
    elif survivor.merged_into_id is not None:
        blocked = _("The surviving record was merged again later. Undo that merge first.")
    return RecordDetail(
        survivor=survivor,
        loser=loser,
        fields=fields,
        moved=moved,
        removed=removed,
        can_undo=_undo_offered(actor, record, survivor, loser),
        blocked=blocked,
    )


def _readable(key: str, value: Any) -> Any:
    """A journal value for people: names instead of ids for the owner and the company."""
    if key == "owner" and isinstance(value, dict):
        owner = User.objects.filter(pk=value.get("owner")).first() if value.get("owner") else None
        team = Team.objects.filter(pk=value.get("team")).first() if value.get("team") else None
        return " · ".join(str(o) for o in (owner, team) if o)
    if key == "primary_company" and value:
        return str(Company._base_manager.filter(pk=value).first() or value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items() if v not in (None, ""))
    return value
