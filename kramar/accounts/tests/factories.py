import factory

from kramar.accounts.models import Membership, Role, Team, User


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Team {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("pass")

    @factory.post_generation
    def team(self, create, extracted, **kwargs):
        if create and extracted:
            Membership.objects.create(user=self, team=extracted, is_primary=True)

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create and extracted:
            role = Role.objects.filter(name=extracted).first()
            if role is None:  # a transactional test's flush removed the roles the migration made
                from kramar.accounts.services import roles_ensure_defaults

                roles_ensure_defaults()
                role = Role.objects.get(name=extracted)
            self.roles.add(role)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    team = factory.SubFactory(TeamFactory)
