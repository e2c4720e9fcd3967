"""Factories build rows directly (fast); tests of behaviour go through the services."""

import factory
from django.utils import timezone

from kramar.accounts.tests.factories import UserFactory
from kramar.activities.models import CalendarFeed, Task


class TaskFactory(factory.django.DjangoModelFactory):
    """An open to-do due tomorrow, assigned to (owned by) a new user."""

    class Meta:
        model = Task

    title = factory.Sequence(lambda n: f"Task {n}")
    kind = Task.Kind.TODO
    owner = factory.SubFactory(UserFactory)
    team = None
    due_at = factory.LazyFunction(lambda: timezone.now() + timezone.timedelta(days=1))


class CalendarFeedFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CalendarFeed

    user = factory.SubFactory(UserFactory)
    digest = factory.Sequence(lambda n: f"{n:064d}")
    prefix = factory.Sequence(lambda n: f"cal{n}")
