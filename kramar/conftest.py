"""Shared fixtures: two sales teams with a rep each, a team lead, a director and an administrator."""

import pytest

from kramar.accounts.tests.factories import TeamFactory, UserFactory


@pytest.fixture
def team_a(db):
    return TeamFactory(name="Sales Kyiv")


@pytest.fixture
def team_b(db):
    return TeamFactory(name="Sales Lviv")


@pytest.fixture
def rep_a(team_a):
    return UserFactory(username="rep_a", team=team_a, role="Sales rep")


@pytest.fixture
def rep_a2(team_a):
    return UserFactory(username="rep_a2", team=team_a, role="Sales rep")


@pytest.fixture
def rep_b(team_b):
    return UserFactory(username="rep_b", team=team_b, role="Sales rep")


@pytest.fixture
def lead_a(team_a):
    return UserFactory(username="lead_a", team=team_a, role="Team lead")


@pytest.fixture
def director(db):
    return UserFactory(username="director", role="Sales director")


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin", is_superuser=True, is_staff=True)


@pytest.fixture(autouse=True)
def _english(settings):
    settings.LANGUAGE_CODE = "en"
