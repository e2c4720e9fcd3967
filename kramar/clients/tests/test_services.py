import pytest
from django.core.exceptions import PermissionDenied

from kramar.clients.models import Company, Contact, ContactPoint
from kramar.clients.services import (
    PossibleDuplicate,
    clients_bulk_set_owner,
    clients_bulk_tag,
    company_create,
    company_update,
    contact_create,
    contact_delete,
    contact_update,
)
from kramar.clients.tests.factories import CompanyFactory, ContactFactory
from kramar.core.errors import ValidationFailed, VersionConflict
from kramar.core.models import AuditEntry
from kramar.core.tests.factories import CustomFieldDefinitionFactory

pytestmark = pytest.mark.django_db


def test_contact_create_normalizes_points_and_writes_audit(rep_a, team_a):
    # when
    contact = contact_create(
        actor=rep_a,
        data={
            "first_name": "Олена", "last_name": "Петренко",
            "emails": [{"value": "Olena.Petrenko@Example.COM"}],
            "phones": ["067 123 45 67", {"value": "+38 (044) 123-45-67", "label": "work"}],
            "tags": ["vip", "kyiv"],
        },
    )
    # then
    assert contact.owner == rep_a and contact.team == team_a
    points = {(p.kind, p.normalized, p.is_primary) for p in contact.points.all()}
    assert points == {
        ("email", "olena.petrenko@example.com", True),
        ("phone", "+380671234567", True),
        ("phone", "+380441234567", False),
    }
    assert "петренко" in contact.search_text and "0671234567" in contact.search_text
    entry = AuditEntry.objects.get(entity="contact", object_id=contact.pk)
    assert entry.action == "create" and entry.actor == rep_a
    assert entry.changes["last_name"] == [None, "Петренко"]
    assert entry.changes["tags"] == [None, ["kyiv", "vip"]]


def test_contact_create_writes_what_reading_the_contact_back_gives(rep_a):
    """contact_create does not read the new contact back: its search text, primary company and the audit's
    related state come from the input. They must equal what the update path reads from the database."""
    from kramar.clients.services import _related_state
    from kramar.core.identifiers import name_key

    first, second = CompanyFactory(owner=rep_a, name="Агро Трейд"), CompanyFactory(owner=rep_a, name="Зерно")
    contact = contact_create(actor=rep_a, data={
        "first_name": "Тарас", "last_name": "Бондар", "position": "закупівлі",
        "emails": ["T.Bondar@Agro.ua"], "phones": ["067 123 45 67", "044 123 45 67"], "tags": ["vip", "опт", "vip"],
        "address": {"city": "Київ", "line": "вул. Хрещатик, 1"}, "company_ids": [second.pk, first.pk, second.pk],
    })
    stored = Contact.objects.get(pk=contact.pk)
    assert stored.primary_company_id == second.pk
    assert stored.name_key == name_key("Тарас", "", "Бондар")
    assert "агро трейд" in stored.search_text and "зерно" in stored.search_text and "t.bondar@agro.ua" in stored.search_text
    read_back = _related_state(stored)
    assert read_back["companies"] == sorted([first.pk, second.pk]) and len(read_back["points"]) == 3
    assert read_back["address"] and read_back["tags"] == ["vip", "опт"]
    changes = AuditEntry.objects.get(entity="contact", object_id=contact.pk).changes
    assert {k: changes[k][1] for k in read_back} == read_back
    # the update path (which reads back) finds nothing changed in the related state
    contact_update(actor=rep_a, contact=stored, data={"position": "директор"})
    update = AuditEntry.objects.filter(entity="contact", object_id=contact.pk, action="update").get()
    assert set(update.changes) == {"position"}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"last_name": "X", "emails": ["not-an-email"]}, "emails[0]"),
        ({"last_name": "X", "phones": ["12345"]}, "phones[0]"),
        ({"last_name": "X", "birthday": "31.02.2020"}, "birthday"),
        ({"last_name": "X", "lifecycle_stage": "alien"}, "lifecycle_stage"),
        ({}, "last_name"),
    ],
)
def test_contact_create_refuses_bad_input_and_saves_nothing(rep_a, data, field):
    with pytest.raises(ValidationFailed) as exc:
        contact_create(actor=rep_a, data=data)
    assert field in exc.value.errors
    assert Contact.objects.count() == 0 and ContactPoint.objects.count() == 0


def test_company_code_checksum(rep_a):
    with pytest.raises(ValidationFailed) as exc:
        company_create(actor=rep_a, data={"name": "Bad", "code": "32855968"})
    assert "code" in exc.value.errors
    company = company_create(actor=rep_a, data={"name": "ТОВ Ромашка", "code": "32855961"})
    assert company.code == "32855961" and company.name_key == "ромашка"
    fop = company_create(actor=rep_a, data={"name": "ФОП Іваненко", "code": "1759013776"})
    assert fop.code == "1759013776"


def test_custom_fields_validated_on_write(rep_a):
    CustomFieldDefinitionFactory(entity="contact", key="segment", field_type="choice", choices=["A", "B"])
    CustomFieldDefinitionFactory(entity="contact", key="budget", field_type="number", required=True)
    with pytest.raises(ValidationFailed) as exc:
        contact_create(actor=rep_a, data={"last_name": "X", "custom": {"segment": "Z", "colour": "red"}})
    assert set(exc.value.errors) == {"custom.segment", "custom.colour", "custom.budget"}
    contact = contact_create(actor=rep_a, data={"last_name": "X", "custom": {"segment": "A", "budget": "1500"}})
    assert contact.custom == {"segment": "A", "budget": 1500}


def test_update_with_stale_version_is_refused(rep_a):
    contact = contact_create(actor=rep_a, data={"last_name": "Шевченко"})
    contact_update(actor=rep_a, contact=contact, data={"first_name": "Тарас"}, expected_version=1)
    with pytest.raises(VersionConflict):
        contact_update(actor=rep_a, contact=contact, data={"first_name": "Taras"}, expected_version=1)
    contact.refresh_from_db()
    assert contact.first_name == "Тарас" and contact.version == 2
    entry = AuditEntry.objects.filter(action="update", object_id=contact.pk).get()
    assert entry.changes == {"first_name": ["", "Тарас"]}


def test_rep_cannot_change_a_colleagues_record_nor_other_teams(rep_a, rep_a2, rep_b):
    mine = ContactFactory(owner=rep_a, team=rep_a.memberships.get().team)
    with pytest.raises(Contact.DoesNotExist):
        contact_update(actor=rep_b, contact=mine, data={"first_name": "hack"})
    with pytest.raises(Contact.DoesNotExist):
        contact_update(actor=rep_a2, contact=mine, data={"first_name": "hack"})  # view team, change own
    with pytest.raises(Contact.DoesNotExist):
        contact_delete(actor=rep_a, contact=mine)  # reps may not delete
    with pytest.raises(PermissionDenied):
        contact_create(actor=type("Anon", (), {"is_authenticated": False, "is_active": False, "pk": None})(), data={})


def test_duplicate_warning_on_create(rep_a, rep_b):
    contact_create(actor=rep_a, data={"last_name": "Коваль", "emails": ["ivan@firm.ua"]})
    with pytest.raises(PossibleDuplicate) as exc:
        contact_create(actor=rep_a, data={"last_name": "Other", "emails": ["IVAN@firm.ua"]})
    assert exc.value.report.candidates[0].reasons == ["same e-mail ivan@firm.ua"]
    # a rep of another team learns a match exists, but not whose it is
    with pytest.raises(PossibleDuplicate) as exc:
        contact_create(actor=rep_b, data={"last_name": "Other", "emails": ["ivan@firm.ua"]})
    assert exc.value.report.candidates == [] and exc.value.report.hidden == 1
    assert contact_create(actor=rep_a, data={"last_name": "Other", "emails": ["ivan@firm.ua"]}, allow_duplicates=True)


def test_duplicate_close_name_at_same_company(rep_a):
    firm = company_create(actor=rep_a, data={"name": "Нова Пошта", "code": "31316718"})
    contact_create(actor=rep_a, data={"first_name": "Олександр", "last_name": "Мельник", "company_ids": [firm.pk]})
    with pytest.raises(PossibleDuplicate) as exc:
        contact_create(actor=rep_a, data={"first_name": "Олександр", "last_name": "Мельнік", "company_ids": [firm.pk]})
    assert "close name at the same company" in exc.value.report.candidates[0].reasons
    with pytest.raises(PossibleDuplicate):
        company_create(actor=rep_a, data={"name": "ТОВ Інша", "code": "31316718"})


def test_company_rename_refreshes_contacts_search_text(rep_a):
    firm = company_create(actor=rep_a, data={"name": "Alpha"})
    person = contact_create(actor=rep_a, data={"last_name": "Bondar", "company_ids": [firm.pk]})
    company_update(actor=rep_a, company=firm, data={"name": "Omega Trade"})
    person.refresh_from_db()
    assert "omega trade" in person.search_text


def test_bulk_actions_skip_records_outside_scope(rep_a, rep_b, lead_a):
    mine = ContactFactory(owner=rep_a, team=rep_a.memberships.get().team)
    theirs = ContactFactory(owner=rep_b, team=rep_b.memberships.get().team)
    result = clients_bulk_tag(actor=rep_a, model=Contact, ids=[mine.pk, theirs.pk], tags=["hot"])
    assert result.changed == [mine.pk] and result.skipped == [theirs.pk]
    assert list(theirs.tags.values_list("name", flat=True)) == []
    result = clients_bulk_set_owner(actor=rep_a, model=Contact, ids=[theirs.pk], owner_id=rep_a.pk)
    assert result.changed == [] and result.skipped == [theirs.pk]
    theirs.refresh_from_db()
    assert theirs.owner == rep_b
    result = clients_bulk_set_owner(actor=lead_a, model=Contact, ids=[mine.pk], owner_id=lead_a.pk)
    assert result.changed == [mine.pk]
    assert AuditEntry.objects.filter(object_id=mine.pk, action="update").count() == 2


def test_director_sees_all_rep_sees_team(rep_a, rep_b, director):
    a = CompanyFactory(owner=rep_a, team=rep_a.memberships.get().team)
    b = CompanyFactory(owner=rep_b, team=rep_b.memberships.get().team)
    assert set(Company.objects.visible_to(director)) == {a, b}
    assert set(Company.objects.visible_to(rep_a)) == {a}
    assert set(Company.objects.visible_to(rep_a, "delete")) == set()


def test_assigning_owner_is_limited_to_the_actors_scope(rep_a, rep_a2, rep_b, lead_a, director):
    mine = ContactFactory(owner=rep_a, team=rep_a.memberships.get().team)
    # a rep (own scope for change) cannot hand a client to anyone else
    with pytest.raises(ValidationFailed) as exc:
        clients_bulk_set_owner(actor=rep_a, model=Contact, ids=[mine.pk], owner_id=rep_a2.pk)
    assert "owner_id" in exc.value.errors
    with pytest.raises(ValidationFailed):
        contact_create(actor=rep_a, data={"last_name": "X", "owner_id": rep_b.pk})
    # a team lead assigns within the team, not to another team
    assert clients_bulk_set_owner(actor=lead_a, model=Contact, ids=[mine.pk], owner_id=rep_a2.pk).changed == [mine.pk]
    with pytest.raises(ValidationFailed):
        contact_update(actor=lead_a, contact=mine, data={"owner_id": rep_b.pk})
    # a director assigns anywhere; the team follows the new owner
    updated = contact_update(actor=director, contact=mine, data={"owner_id": rep_b.pk})
    assert updated.owner == rep_b and updated.team == rep_b.memberships.get().team


def test_editing_links_keeps_companies_the_editor_cannot_see(rep_a, rep_b, director):
    # given a contact of team A who also works for a company only team B sees
    ours = CompanyFactory(owner=rep_a, team=rep_a.memberships.get().team)
    theirs = CompanyFactory(owner=rep_b, team=rep_b.memberships.get().team)
    person = contact_create(actor=director, data={"last_name": "Гнатюк", "company_ids": [theirs.pk]})
    contact_update(actor=director, contact=person, data={"owner_id": rep_a.pk})
    # when rep A edits the links they can see
    contact_update(actor=rep_a, contact=person, data={"company_ids": [ours.pk]})
    # then the hidden link survives and the chosen company is primary
    links = dict(person.company_links.values_list("company_id", "is_primary"))
    assert links == {theirs.pk: False, ours.pk: True}
    person.refresh_from_db()
    assert person.primary_company_id == ours.pk
    contact_update(actor=rep_a, contact=person, data={"company_ids": []})
    assert dict(person.company_links.values_list("company_id", "is_primary")) == {theirs.pk: True}
