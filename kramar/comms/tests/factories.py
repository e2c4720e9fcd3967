"""Factories for the Communication Center: they build rows directly (fast); tests of behaviour go through the
services."""

import factory
from django.utils import timezone

from kramar.accounts.tests.factories import UserFactory
from kramar.comms.choices import AssignmentStatus, ChannelKind, MessageDirection, Presence, Priority, Strategy
from kramar.comms.models import (
    AgentProfile,
    Assignment,
    BusinessHours,
    CannedResponse,
    Channel,
    Conversation,
    Holiday,
    InboundFailure,
    LiveEvent,
    LoadWeight,
    Message,
    Queue,
    QueueMember,
    RoutingRule,
    SlaPolicy,
)

WEEKDAYS_9_TO_6 = {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")} | {"sat": [], "sun": []}


class BusinessHoursFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BusinessHours

    name = factory.Sequence(lambda n: f"Hours {n}")
    time_zone = "Europe/Kyiv"
    schedule = factory.LazyFunction(lambda: dict(WEEKDAYS_9_TO_6))


class HolidayFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Holiday

    hours = factory.SubFactory(BusinessHoursFactory)
    date = factory.LazyFunction(lambda: timezone.localdate())
    name = "Holiday"


class QueueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Queue

    name = factory.Sequence(lambda n: f"Queue {n}")
    strategy = Strategy.LEAST_LOADED
    accept_minutes = 5


class QueueMemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = QueueMember

    queue = factory.SubFactory(QueueFactory)
    user = factory.SubFactory(UserFactory)


class RoutingRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RoutingRule

    name = factory.Sequence(lambda n: f"Rule {n}")
    position = factory.Sequence(lambda n: n)
    conditions = factory.LazyFunction(list)
    queue = factory.SubFactory(QueueFactory)
    priority = Priority.NORMAL


class SlaPolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SlaPolicy

    queue = factory.SubFactory(QueueFactory)
    priority = Priority.NORMAL
    first_response_minutes = 60
    resolution_minutes = 480
    warn_before_minutes = 15


class AgentProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AgentProfile
        django_get_or_create = ("user",)

    user = factory.SubFactory(UserFactory)
    presence = Presence.ONLINE
    last_seen_at = factory.LazyFunction(timezone.now)
    capacity = 5
    skills = factory.LazyFunction(list)


class LoadWeightFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LoadWeight
        django_get_or_create = ("channel_kind",)

    channel_kind = ChannelKind.PHONE
    weight = 3


class ChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Channel

    kind = ChannelKind.EMAIL
    name = factory.Sequence(lambda n: f"Mailbox {n}")
    address = factory.Sequence(lambda n: f"inbox{n}@kramar.test")


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversation

    channel = factory.SubFactory(ChannelFactory)
    kind = factory.LazyAttribute(lambda c: c.channel.kind)
    subject = factory.Sequence(lambda n: f"Question {n}")
    owner = None
    team = None


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    conversation = factory.SubFactory(ConversationFactory)
    channel = factory.LazyAttribute(lambda m: m.conversation.channel)
    direction = MessageDirection.INBOUND
    external_id = factory.Sequence(lambda n: f"<m{n}@client.test>")
    from_address = factory.Sequence(lambda n: f"client{n}@client.test")
    subject = factory.LazyAttribute(lambda m: m.conversation.subject)
    body = "Hello"


class InboundFailureFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InboundFailure

    channel = factory.SubFactory(ChannelFactory)
    source_ref = factory.Sequence(lambda n: f"uid:{n}")
    error = "could not parse"


class AssignmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Assignment

    conversation = factory.SubFactory(ConversationFactory)
    queue = factory.SubFactory(QueueFactory)
    user = factory.SubFactory(UserFactory)
    status = AssignmentStatus.OFFERED
    reason = "test"


class CannedResponseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CannedResponse

    name = factory.Sequence(lambda n: f"Answer {n}")
    body = "Dear {{ contact.first_name }}, thank you. {{ agent.name }}"


class LiveEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LiveEvent

    topic = "supervisors"
    kind = "queue.changed"
    payload = factory.LazyFunction(dict)


# --------------------------------------------------------------------------- telephony, chat and web-form channels
class PhoneChannelFactory(ChannelFactory):
    kind = ChannelKind.PHONE
    name = factory.Sequence(lambda n: f"Telephony {n}")
    address = "+380441234567"
    secret = "phone-secret"
    settings = factory.LazyFunction(lambda: {"extensions": {}})


class ChatChannelFactory(ChannelFactory):
    kind = ChannelKind.CHAT
    name = factory.Sequence(lambda n: f"Chat {n}")
    address = "@kramar_bot"
    secret = "chat-secret"
    settings = factory.LazyFunction(lambda: {"network": "telegram"})


class WebFormChannelFactory(ChannelFactory):
    kind = ChannelKind.WEBFORM
    name = factory.Sequence(lambda n: f"Web form {n}")
    address = "contact-page"
    settings = factory.LazyFunction(lambda: {"allowed_origins": ["https://shop.example"]})
