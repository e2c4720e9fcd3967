"""Merging contacts and companies through the services, and undoing it: nothing may be lost."""

import datetime as dt

import pytest
from django.http import Http404

from kramar.clients.merge import (
    _foreign_keys_to,
    companies_merge,
    contacts_merge,
    merge_get,
    merge_list,
    merge_preview,
    merge_relations,
    merge_undo,
)
from kramar.clients.models import Address, Company, Contact, ContactCompany, ContactPoint, MergeRecord
from kramar.clients.services import company_create, contact_create, contact_update
from kramar.clients.tests.factories import AddressFactory, CompanyFactory, ContactFactory
from kramar.core.audit import _plain, snapshot
from kramar.core.errors import DomainError, ValidationFailed
from kramar.core.models import AuditEntry
from kramar.core.tests.factories import CustomFieldDefinitionFactory
from kramar.history.models import Interaction
from kramar.history.tests.factories import InteractionFactory

pytestmark = pytest.mark.django_db

VOLATILE = {"version", "updated_at", "search_text", "name_key"}


def full_state(obj) -> dict:
    """The record's own fields plus every row of every model that points at it (pks included)."""
    state = {"fields": snapshot(obj)}
    for rel in _foreign_keys_to(type(obj)):
        rows = rel.rows(obj.pk).order_by("pk")
        state[rel.key] = [
            {
                f.attname: _plain(getattr(r, f.attname))
                for f in r._meta.concrete_fields
                if f.name not in VOLATILE
            }
            for r in rows
        ]
    return state


def fresh(obj):
    return type(obj)._base_manager.get(pk=obj.pk)


@pytest.fixture
def pair(rep_a, team_a):
    """Two contacts of rep_a that are one person, each with history, points, tags, links, addresses."""
    acme = CompanyFactory(name="Acme", owner=rep_a, team=team_a)
    globex = CompanyFactory(name="Globex", owner=rep_a, team=team_a)
    initech = CompanyFactory(name="Initech", owner=rep_a, team=team_a)
    survivor = contact_create(
        actor=rep_a,
        allow_duplicates=True,
        data={
            "first_name": "Olena",
            "last_name": "Petrenko",
            "position": "",
            "emails": [{"value": "olena@acme.ua", "is_primary": True}],
            "phones": ["+380671234567"],
            "tags": ["vip", "kyiv"],
            "company_ids": [acme.pk, globex.pk],
            "address": {"line": "Khreshchatyk 1", "city": "Kyiv"},
        },
    )
    loser = contact_create(
        actor=rep_a,
        allow_duplicates=True,
        data={
            "first_name": "Olenka",
            "last_name": "Petrenko",
            "position": "CFO",
            "birthday": "1985-03-12",
            "emails": [{"value": "OLENA@acme.ua"}, {"value": "o.petrenko@gmail.com", "is_primary": True}],
            "phones": ["+380501112233"],
            "tags": ["vip", "newsletter"],
            "company_ids": [globex.pk, initech.pk],
            "address": {"line": "Sadova 5", "city": "Lviv"},
        },
    )
    for i in range(3):
        InteractionFactory(contact=loser, subject=f"loser call {i}", user=rep_a)
    InteractionFactory(contact=survivor, subject="survivor call", user=rep_a)
    return survivor, loser


def test_contacts_merge_moves_every_related_row_to_the_survivor(rep_a, pair):
    # given
    survivor, loser = pair
    rows_before = {
        "interactions": Interaction.objects.count(),
        "points": ContactPoint.objects.count(),
        "links": ContactCompany.objects.count(),
        "addresses": Address.objects.count(),
        "tag_links": Contact.tags.through.objects.count(),
    }
    # when
    result = contacts_merge(actor=rep_a, survivor=survivor, loser=loser, choices={})
    # then: every row of the loser is on the survivor or journalled as a duplicate
    survivor, loser = fresh(survivor), fresh(loser)
    assert loser.merged_into_id == survivor.pk
    assert not Contact.objects.visible_to(rep_a).filter(pk=loser.pk).exists()
    for rel in merge_relations(Contact):
        assert not rel.rows(loser.pk).exists(), rel.key
    assert sorted(survivor.interactions.values_list("subject", flat=True)) == [
        "loser call 0",
        "loser call 1",
        "loser call 2",
        "survivor call",
    ]
    assert sorted(survivor.points.values_list("normalized", flat=True)) == [
        "+380501112233",
        "+380671234567",
        "o.petrenko@gmail.com",
        "olena@acme.ua",
    ]
    assert sorted(survivor.tags.values_list("name", flat=True)) == ["kyiv", "newsletter", "vip"]
    assert sorted(survivor.companies.values_list("name", flat=True)) == ["Acme", "Globex", "Initech"]
    assert sorted(survivor.addresses.values_list("city", flat=True)) == ["Kyiv", "Lviv"]
    record = result.record
    removed = {k: len(v) for k, v in record.removed.items()}
    assert removed == {"clients.contactpoint": 1, "clients.contactcompany": 1, "clients.contact_tags": 1}
    assert Interaction.objects.count() == rows_before["interactions"]
    assert ContactPoint.objects.count() == rows_before["points"] - 1
    assert ContactCompany.objects.count() == rows_before["links"] - 1
    assert Address.objects.count() == rows_before["addresses"]
    assert Contact.tags.through.objects.count() == rows_before["tag_links"] - 1
    assert len(record.moved["history.interaction.contact"]) == 3
    assert len(record.moved["clients.contact_tags.contact"]) == 1  # the generic M2M through path
    # one primary e-mail and one primary company link remain; search text knows the loser's e-mail
    assert survivor.points.filter(kind="email", is_primary=True).count() == 1
    assert survivor.points.get(is_primary=True, kind="email").normalized == "olena@acme.ua"
    assert survivor.company_links.filter(is_primary=True).count() == 1
    assert "o.petrenko@gmail.com" in survivor.search_text and "initech" in survivor.search_text
    assert survivor.version == 2


def test_contacts_merge_applies_per_field_choices_and_fills_blanks(rep_a, rep_a2, pair):
    # given
    CustomFieldDefinitionFactory(entity="contact", key="segment", field_type="choice", choices=["A", "B"])
    CustomFieldDefinitionFactory(entity="contact", key="budget", field_type="number")
    survivor, loser = pair
    Contact.objects.filter(pk=survivor.pk).update(custom={"segment": "A"}, lifecycle_stage="customer")
    Contact.objects.filter(pk=loser.pk).update(
        custom={"segment": "B", "budget": 10}, lifecycle_stage="prospect"
    )
    # when
    contacts_merge(
        actor=rep_a,
        survivor=survivor,
        loser=loser,
        choices={"first_name": "loser", "custom.segment": "loser", "lifecycle_stage": "survivor"},
    )
    # then
    survivor = fresh(survivor)
    assert survivor.first_name == "Olenka"  # chosen
    assert survivor.position == "CFO" and survivor.birthday == dt.date(
        1985, 3, 12
    )  # blanks filled by default
    assert survivor.lifecycle_stage == "customer"
    assert survivor.custom == {"segment": "B", "budget": 10}
    assert survivor.name_key == "olenka petrenko"


def test_contacts_merge_refuses_bad_choices_and_itself(rep_a, pair):
    survivor, loser = pair
    with pytest.raises(ValidationFailed) as exc:
        contacts_merge(
            actor=rep_a, survivor=survivor, loser=loser, choices={"colour": "loser", "notes": "both"}
        )
    assert set(exc.value.errors) == {"choices.colour", "choices.notes"}
    with pytest.raises(DomainError) as exc:
        contacts_merge(actor=rep_a, survivor=survivor, loser=survivor, choices={})
    assert exc.value.code == "merge_same_record"
    assert MergeRecord.objects.count() == 0 and fresh(loser).merged_into_id is None


def test_merge_writes_audit_rows_naming_each_other(rep_a, pair):
    # given
    survivor, loser = pair
    # when
    record = contacts_merge(
        actor=rep_a, survivor=survivor, loser=loser, choices={"first_name": "loser"}
    ).record
    # then
    on_survivor = AuditEntry.objects.get(entity="contact", object_id=survivor.pk, action="merge")
    on_loser = AuditEntry.objects.get(entity="contact", object_id=loser.pk, action="merge")
    assert on_survivor.actor == rep_a and on_loser.actor == rep_a
    assert on_survivor.extra["other_id"] == loser.pk and on_loser.extra["other_id"] == survivor.pk
    assert on_survivor.extra["merge_id"] == record.pk
    assert on_survivor.changes["first_name"] == ["Olena", "Olenka"]
    assert on_survivor.changes["tags"] == [["kyiv", "vip"], ["kyiv", "newsletter", "vip"]]
    assert on_loser.changes["merged_into"] == [None, survivor.pk]


def test_undo_restores_both_contacts_exactly(rep_a, pair):
    # given
    survivor, loser = pair
    before = (full_state(fresh(survivor)), full_state(fresh(loser)))
    record = contacts_merge(
        actor=rep_a,
        survivor=survivor,
        loser=loser,
        choices={"first_name": "loser", "birthday": "loser", "primary_company": "loser"},
    ).record
    assert full_state(fresh(survivor)) != before[0]
    # when
    merge_undo(actor=rep_a, record=record)
    # then
    after = (full_state(fresh(survivor)), full_state(fresh(loser)))
    assert after[0] == before[0]
    assert after[1] == before[1]
    assert Contact.objects.visible_to(rep_a).filter(pk=loser.pk).exists()
    assert "o.petrenko@gmail.com" in fresh(loser).search_text
    assert "o.petrenko@gmail.com" not in fresh(survivor).search_text
    record.refresh_from_db()
    assert record.undone_at is not None and record.undone_by == rep_a
    assert AuditEntry.objects.filter(action="unmerge", object_id__in=[survivor.pk, loser.pk]).count() == 2


def test_double_undo_is_refused(rep_a, pair):
    survivor, loser = pair
    record = contacts_merge(actor=rep_a, survivor=survivor, loser=loser).record
    merge_undo(actor=rep_a, record=record)
    with pytest.raises(DomainError) as exc:
        merge_undo(actor=rep_a, record=record)
    assert exc.value.code == "merge_already_undone"


def test_undo_is_refused_while_the_survivor_is_merged_again_then_works_in_reverse_order(rep_a, team_a, pair):
    # given: loser → survivor, then survivor → third
    survivor, loser = pair
    third = ContactFactory(owner=rep_a, team=team_a, first_name="O.", last_name="Petrenko")
    before = [full_state(fresh(o)) for o in (survivor, loser, third)]
    first = contacts_merge(actor=rep_a, survivor=survivor, loser=loser).record
    second = contacts_merge(actor=rep_a, survivor=third, loser=fresh(survivor)).record
    assert set(fresh(third).interactions.values_list("subject", flat=True)) >= {
        "loser call 0",
        "survivor call",
    }
    # when / then
    with pytest.raises(DomainError) as exc:
        merge_undo(actor=rep_a, record=first)
    assert exc.value.code == "merge_undo_blocked"
    merge_undo(actor=rep_a, record=second)
    merge_undo(actor=rep_a, record=first)
    assert [full_state(fresh(o)) for o in (survivor, loser, third)] == before


def test_undo_keeps_fields_edited_after_the_merge(rep_a, pair):
    # given
    survivor, loser = pair
    record = contacts_merge(
        actor=rep_a, survivor=survivor, loser=loser, choices={"first_name": "loser", "position": "loser"}
    ).record
    contact_update(actor=rep_a, contact=fresh(survivor), data={"position": "CEO"})
    # when
    merge_undo(actor=rep_a, record=record)
    # then
    survivor = fresh(survivor)
    assert survivor.first_name == "Olena" and survivor.position == "CEO"
    entry = AuditEntry.objects.get(object_id=survivor.pk, action="unmerge")
    assert entry.extra["kept_later_edits"] == ["position"]


def test_merge_and_undo_outside_scope_are_404(rep_a, rep_a2, rep_b, pair):
    survivor, loser = pair
    other = ContactFactory(owner=rep_a2, team=rep_a2.memberships.get().team)
    # rep_b sees neither record; rep_a may view but not change rep_a2's contact
    with pytest.raises(Http404):
        contacts_merge(actor=rep_b, survivor=survivor, loser=loser)
    with pytest.raises(Http404):
        contacts_merge(actor=rep_a, survivor=survivor, loser=other)
    with pytest.raises(Http404):
        merge_preview(actor=rep_b, entity="contact", survivor_id=survivor.pk, loser_id=loser.pk)
    record = contacts_merge(actor=rep_a, survivor=survivor, loser=loser).record
    with pytest.raises(Http404):
        merge_undo(actor=rep_b, record=record)
    with pytest.raises(Http404):
        merge_get(actor=rep_b, pk=record.pk)
    assert list(merge_list(actor=rep_b)) == []
    assert list(merge_list(actor=rep_a2)) == [record]  # same team: may view, not undo
    with pytest.raises(Http404):
        merge_undo(actor=rep_a2, record=record)
    assert fresh(record).undone_at is None


def test_a_rep_without_delete_rights_merges_own_duplicates(rep_a, pair):
    survivor, loser = pair
    from kramar.core import scopes

    assert not scopes.can(rep_a, "contact", "delete")
    assert contacts_merge(actor=rep_a, survivor=survivor, loser=loser).survivor.pk == survivor.pk


def test_preview_counts_rows_that_move_and_duplicates(rep_a, pair):
    survivor, loser = pair
    preview = merge_preview(actor=rep_a, entity="contact", survivor_id=survivor.pk, loser_id=loser.pk)
    counts = {c.key: (c.survivor, c.loser, c.duplicates) for c in preview.counts}
    assert counts["history.interaction.contact"] == (1, 3, 0)
    assert counts["clients.contactpoint.contact"] == (2, 3, 1)
    assert counts["clients.contactcompany.contact"] == (2, 2, 1)
    assert counts["clients.contact_tags.contact"] == (2, 2, 1)
    rows = {r.key: r for r in preview.rows}
    assert rows["first_name"].survivor == "Olena" and rows["first_name"].loser == "Olenka"
    assert rows["position"].choice == "loser" and rows["last_name"].same


@pytest.fixture
def companies(rep_a, team_a):
    survivor = company_create(
        actor=rep_a,
        allow_duplicates=True,
        data={"name": "ТОВ Ромашка", "code": "32855961", "emails": ["info@romashka.ua"], "tags": ["key"]},
    )
    loser = company_create(
        actor=rep_a,
        allow_duplicates=True,
        data={
            "name": "Ромашка",
            "website": "https://romashka.ua",
            "emails": ["INFO@romashka.ua", "sales@romashka.ua"],
            "tags": ["key", "b2b"],
        },
    )
    AddressFactory(company=loser, city="Odesa")
    both = contact_create(
        actor=rep_a, allow_duplicates=True, data={"last_name": "Both", "company_ids": [loser.pk, survivor.pk]}
    )
    only_loser = contact_create(
        actor=rep_a, allow_duplicates=True, data={"last_name": "Lonely", "company_ids": [loser.pk]}
    )
    InteractionFactory(contact=None, company=loser, subject="company meeting", user=rep_a)
    return survivor, loser, both, only_loser


def test_companies_merge_moves_people_and_primary_company_then_undo_restores(rep_a, companies):
    # given
    survivor, loser, both, only_loser = companies
    before = [full_state(fresh(o)) for o in (survivor, loser, both, only_loser)]
    # when
    record = companies_merge(actor=rep_a, survivor=survivor, loser=loser, choices={"name": "survivor"}).record
    # then
    survivor = fresh(survivor)
    assert survivor.website == "https://romashka.ua"  # blank filled
    assert set(survivor.contacts.values_list("last_name", flat=True)) == {"Both", "Lonely"}
    assert (
        fresh(both).primary_company_id == survivor.pk and fresh(only_loser).primary_company_id == survivor.pk
    )
    assert fresh(both).company_links.get().is_primary  # its primary link was the dropped one
    assert "ромашка" in fresh(only_loser).search_text
    assert survivor.interactions.get().subject == "company meeting"
    assert sorted(survivor.points.values_list("normalized", flat=True)) == [
        "info@romashka.ua",
        "sales@romashka.ua",
    ]
    assert sorted(survivor.tags.values_list("name", flat=True)) == ["b2b", "key"]
    assert survivor.addresses.get().city == "Odesa"
    assert record.moved["clients.contact.primary_company"] == sorted([both.pk, only_loser.pk])
    # when
    merge_undo(actor=rep_a, record=record)
    # then
    assert [full_state(fresh(o)) for o in (survivor, loser, both, only_loser)] == before
    assert Company.objects.visible_to(rep_a).filter(pk=loser.pk).exists()


def test_undo_restores_custom_key_the_survivor_did_not_have(rep_a, pair):
    CustomFieldDefinitionFactory(entity="contact", key="budget", field_type="number")
    survivor, loser = pair
    Contact.objects.filter(pk=loser.pk).update(custom={"budget": 5})
    record = contacts_merge(actor=rep_a, survivor=survivor, loser=loser).record
    assert fresh(survivor).custom == {"budget": 5}
    merge_undo(actor=rep_a, record=record)
    assert fresh(survivor).custom == {}


def test_the_journal_shows_a_director_every_merge_and_a_rep_only_their_scope(rep_a, rep_b, director, pair):
    survivor, loser = pair
    theirs = ContactFactory(owner=rep_b, team=rep_b.memberships.get().team)
    theirs2 = ContactFactory(owner=rep_b, team=rep_b.memberships.get().team)
    mine = contacts_merge(actor=rep_a, survivor=survivor, loser=loser).record
    other = contacts_merge(actor=rep_b, survivor=theirs, loser=theirs2).record
    assert set(merge_list(actor=director)) == {mine, other}
    assert list(merge_list(actor=rep_a)) == [mine]
    assert list(merge_list(actor=rep_b, entity="contact")) == [other]
    assert list(merge_list(actor=rep_b, entity="company")) == []
