"""Refusals and ambiguous labels read as whole, correct Ukrainian sentences and words (no English codes
spliced into a translated sentence, one English word translated by its place)."""

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import translation

from kramar.accounts.tests.factories import UserFactory
from kramar.clients.choices import AddressKind, PointLabel
from kramar.clients.models import Company, Contact, MergeRecord
from kramar.clients.services import company_create, contact_create
from kramar.clients.tests.factories import CompanyFactory, ContactFactory
from kramar.core.models import CustomFieldDefinition
from kramar.core.tests.api_client import ApiClient, problem_fields

pytestmark = pytest.mark.django_db

UK = {"HTTP_ACCEPT_LANGUAGE": "uk"}


@pytest.mark.parametrize(
    ("create", "data", "english", "ukrainian"),
    [
        (contact_create, {"first_name": "Олена"}, "You may not create contacts.",
         "У вас немає права створювати контакти."),
        (company_create, {"name": "Кварц"}, "You may not create companies.",
         "У вас немає права створювати компанії."),
    ],
)
def test_refused_create_is_one_whole_sentence_in_the_users_language(create, data, english, ukrainian):
    # given a user without any role
    nobody = UserFactory(username="nobody")

    # when they try to create a client in Ukrainian and in English
    with translation.override("uk"), pytest.raises(PermissionDenied) as in_uk:
        create(actor=nobody, data=data)
    with translation.override("en"), pytest.raises(PermissionDenied) as in_en:
        create(actor=nobody, data=data)

    # then each refusal is one sentence of its language, with no English code inside the Ukrainian one
    assert str(in_uk.value) == ukrainian
    assert str(in_en.value) == english
    assert "create" not in str(in_uk.value) and "contact" not in str(in_uk.value)
    assert Contact.objects.count() == 0 and Company.objects.count() == 0


@pytest.mark.parametrize(
    ("factory", "path", "change_uk", "delete_uk"),
    [
        (ContactFactory, "/contacts/{pk}", "У вас немає права змінювати цей контакт.",
         "У вас немає права видаляти цей контакт."),
        (CompanyFactory, "/companies/{pk}", "У вас немає права змінювати цю компанію.",
         "У вас немає права видаляти цю компанію."),
    ],
)
def test_api_refusal_on_a_visible_record_is_ukrainian_for_a_ukrainian_caller(
    rep_a, rep_a2, team_a, factory, path, change_uk, delete_uk
):
    # given a teammate's client, which a rep may see but neither change nor delete
    record = factory(owner=rep_a, team=team_a)
    api = ApiClient(rep_a2)
    url = path.format(pk=record.pk)

    # when the rep tries both, asking for Ukrainian
    patched = api.patch(url, {"notes": "X"}, **UK)
    deleted = api.delete(url, **UK)

    # then both are 403 problems whose detail is a whole Ukrainian sentence
    assert patched.status_code == 403 and deleted.status_code == 403
    problem_fields(patched)
    assert patched.json()["detail"] == change_uk
    assert deleted.json()["detail"] == delete_uk
    assert type(record).objects.filter(pk=record.pk, notes="").exists()


def test_api_refusal_is_english_for_an_english_caller(rep_a, rep_a2, team_a):
    # given
    contact = ContactFactory(owner=rep_a, team=team_a)
    # when
    response = ApiClient(rep_a2).delete(f"/contacts/{contact.pk}", HTTP_ACCEPT_LANGUAGE="en")
    # then
    assert response.status_code == 403
    assert response.json()["detail"] == "You may not delete this contact."


# ------------------------------------------------------------------------------ one word, two places


def test_home_and_other_are_worded_for_a_phone_and_for_an_address():
    # when the same English labels are shown in Ukrainian
    with translation.override("uk"):
        phone = (str(PointLabel.HOME.label), str(PointLabel.OTHER.label))
        address = (str(AddressKind.HOME.label), str(AddressKind.OTHER.label))

    # then a phone is "домашній" (masculine) and an address "домашня адреса"
    assert phone == ("Домашній", "Інший")
    assert address == ("Домашня адреса", "Інша адреса")


def test_ordering_position_of_a_custom_field_is_not_a_job_position():
    # when the two "position" fields are labelled in Ukrainian
    with translation.override("uk"):
        custom = str(CustomFieldDefinition._meta.get_field("position").verbose_name)
        job = str(Contact._meta.get_field("position").verbose_name)

    # then the custom field's order is "порядок", a contact's job stays "посада"
    assert custom == "порядок"
    assert job == "посада"


def test_merge_record_has_translated_names():
    with translation.override("uk"):
        assert str(MergeRecord._meta.verbose_name) == "запис про об'єднання"
        assert str(MergeRecord._meta.verbose_name_plural) == "записи про об'єднання"
    with translation.override("en"):
        assert str(MergeRecord._meta.verbose_name) == "merge record"


def test_name_column_is_a_persons_name_for_contacts_and_a_title_for_companies(client, rep_a, team_a):
    # given a Ukrainian-speaking rep with a contact and a company
    rep_a.language = "uk"
    rep_a.save(update_fields=["language"])
    ContactFactory(owner=rep_a, team=team_a)
    CompanyFactory(owner=rep_a, team=team_a)
    client.post(reverse("accounts:login"), {"username": "rep_a", "password": "pass"})

    # when both lists are opened
    contacts = client.get(reverse("clients:contact-list")).content.decode()
    companies = client.get(reverse("clients:company-list")).content.decode()

    # then the contacts' column says "Ім'я" (a person), the companies' "Назва" (a title)
    assert "Ім&#x27;я" in contacts or "Ім'я" in contacts
    assert ">Назва<" not in contacts and "Назва" not in contacts.split("<thead>")[1].split("</thead>")[0]
    assert "Назва" in companies.split("<thead>")[1].split("</thead>")[0]
