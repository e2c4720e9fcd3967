import getpass

from django.core.management.base import BaseCommand, CommandError

from kramar.accounts.models import Team, User
from kramar.accounts.services import user_create


class Command(BaseCommand):
    help = "Create a Kramar user with a role and team: createuser NAME [--role 'Sales rep'] [--team Sales] [--admin]"

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--password", help="asked for when omitted and a terminal is attached")
        parser.add_argument("--email", default="")
        parser.add_argument("--role", action="append", default=[])
        parser.add_argument("--team", action="append", default=[])
        parser.add_argument("--admin", action="store_true", help="superuser: all records, Django admin")

    def handle(self, *args, username, password, email, role, team, admin, **options):
        if User.objects.filter(username=username).exists():
            raise CommandError(f"User {username!r} exists")
        if password is None:
            password = getpass.getpass("Password: ")
        teams = [Team.objects.get_or_create(name=t)[0] for t in team]
        user = user_create(
            username=username, password=password, email=email, teams=teams, roles=role or None, is_superuser=admin
        )
        self.stdout.write(f"Created {user.username}")
