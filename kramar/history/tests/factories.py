import factory
from django.utils import timezone

from kramar.clients.tests.factories import ContactFactory
from kramar.history.models import Attachment, Interaction


class InteractionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Interaction

    channel = "call"
    direction = "out"
    occurred_at = factory.LazyFunction(timezone.now)
    subject = factory.Sequence(lambda n: f"Call {n}")
    contact = factory.SubFactory(ContactFactory)
    user = factory.SelfAttribute("contact.owner")


class AttachmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Attachment

    interaction = factory.SubFactory(InteractionFactory)
    file = factory.django.FileField(filename="scan.pdf", data=b"%PDF-1.4 test")
    filename = "scan.pdf"
    size = 13
