"""Factories build rows directly (fast); tests of behaviour go through the services."""

import factory

from kramar.accounts.tests.factories import UserFactory
from kramar.clients.models import Address, Company, Contact, ContactCompany, ContactPoint, MergeRecord
from kramar.clients.normalize import company_search_text, contact_search_text
from kramar.core.identifiers import name_key


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Company {n}")
    owner = factory.SubFactory(UserFactory)
    team = None

    @factory.post_generation
    def derive(self, create, extracted, **kwargs):
        if create:
            self.search_text = company_search_text(self, list(self.points.all()))
            self.name_key = name_key(self.name, strip_legal_forms=True)
            Company.objects.filter(pk=self.pk).update(search_text=self.search_text, name_key=self.name_key)


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact
        skip_postgeneration_save = True

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    owner = factory.SubFactory(UserFactory)
    team = None

    @factory.post_generation
    def derive(self, create, extracted, **kwargs):
        if create:
            names = [self.primary_company.name] if self.primary_company_id else []
            self.search_text = contact_search_text(self, list(self.points.all()), names)
            self.name_key = name_key(self.first_name, self.middle_name, self.last_name)
            Contact.objects.filter(pk=self.pk).update(search_text=self.search_text, name_key=self.name_key)


class ContactPointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContactPoint

    contact = factory.SubFactory(ContactFactory)
    kind = "email"
    value = factory.Sequence(lambda n: f"person{n}@example.com")
    normalized = factory.LazyAttribute(lambda p: p.value.lower())
    is_primary = True


class ContactCompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContactCompany

    contact = factory.SubFactory(ContactFactory)
    company = factory.SubFactory(CompanyFactory)
    is_primary = True


class AddressFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Address

    company = factory.SubFactory(CompanyFactory)
    line = "вул. Хрещатик, 1"
    city = "Київ"


class MergeRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MergeRecord

    entity = "contact"
    survivor_id = 1
    loser_id = 2
