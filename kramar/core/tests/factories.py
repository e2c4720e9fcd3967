import factory

from kramar.core.models import AuditEntry, CustomFieldDefinition, Tag


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"tag{n}")


class CustomFieldDefinitionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CustomFieldDefinition

    entity = "contact"
    key = factory.Sequence(lambda n: f"field_{n}")
    label = factory.LazyAttribute(lambda d: d.key.title())
    field_type = "text"


class AuditEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuditEntry

    action = "create"
    entity = "contact"
    object_id = 1
