import datetime as dt

import pytest

from kramar.accounts.tests.factories import UserFactory
from kramar.comms.choices import Presence
from kramar.comms.models import AgentProfile
from kramar.comms.presence import presence_heartbeat, presence_idle_away, presence_set

pytestmark = pytest.mark.django_db


def test_set_and_heartbeat(now):
    user = UserFactory()
    profile = presence_set(user=user, presence=Presence.ONLINE, now=now)
    assert profile.presence == Presence.ONLINE and profile.last_seen_at == now
    presence_heartbeat(user=user, now=now + dt.timedelta(minutes=3))
    profile.refresh_from_db()
    assert profile.last_seen_at == now + dt.timedelta(minutes=3) and profile.presence_changed_at == now
    with pytest.raises(ValueError):
        presence_set(user=user, presence="busy")


def test_online_agents_without_heartbeat_become_away(now, settings):
    # given the limit is 10 minutes: one agent seen 11 minutes ago, one 5 minutes ago, one away already
    settings.KRAMAR_PRESENCE_AWAY_MINUTES = 10
    stale, fresh, away = UserFactory(), UserFactory(), UserFactory()
    presence_set(user=stale, presence=Presence.ONLINE, now=now - dt.timedelta(minutes=11))
    presence_set(user=fresh, presence=Presence.ONLINE, now=now - dt.timedelta(minutes=20))
    presence_heartbeat(user=fresh, now=now - dt.timedelta(minutes=5))
    presence_set(user=away, presence=Presence.AWAY, now=now - dt.timedelta(hours=1))
    # when
    changed = presence_idle_away(now=now)
    # then
    assert changed == 1
    assert dict(AgentProfile.objects.values_list("user_id", "presence")) == {
        stale.pk: Presence.AWAY, fresh.pk: Presence.ONLINE, away.pk: Presence.AWAY}
    assert presence_idle_away(now=now) == 0
