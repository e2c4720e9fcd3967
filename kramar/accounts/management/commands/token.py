from django.core.management.base import BaseCommand, CommandError

from kramar.accounts.models import ApiToken, User
from kramar.accounts.services import api_token_create, api_token_revoke


class Command(BaseCommand):
    help = "Manage personal API tokens: token create --user NAME [--name N] | token list --user NAME | token revoke --user NAME ID"

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["create", "list", "revoke"])
        parser.add_argument("token_id", nargs="?", type=int)
        parser.add_argument("--user", required=True)
        parser.add_argument("--name", default="cli")

    def handle(self, *args, action, token_id, user, name, **options):
        try:
            owner = User.objects.get(username=user)
        except User.DoesNotExist as exc:
            raise CommandError(f"No user named {user!r}") from exc
        if action == "create":
            token, plain = api_token_create(user=owner, name=name)
            self.stdout.write(plain)
            self.stderr.write(f"Token {token.pk} ({token.name}) for {owner.username}. It is shown once; keep it safe.")
        elif action == "list":
            for t in ApiToken.objects.filter(user=owner):
                state = "revoked" if t.revoked_at else "active"
                self.stdout.write(f"{t.pk}\t{t.name}\t{t.prefix}…\t{state}\tlast used {t.last_used_at or 'never'}")
        else:
            if token_id is None:
                raise CommandError("Give the token id to revoke")
            if not api_token_revoke(user=owner, token_id=token_id):
                raise CommandError("No such active token")
            self.stdout.write(f"Revoked token {token_id}")
