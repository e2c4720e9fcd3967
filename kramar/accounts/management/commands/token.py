from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from kramar.accounts.models import ApiToken, User
from kramar.accounts.services import api_token_create, api_token_revoke


class Command(BaseCommand):
    @property
    def help(self) -> str:  # a property: argparse needs a real str, in the language active when it is shown
        return _(
            "Manage personal API tokens: token create --user NAME [--name N] | token list --user NAME | "
            "token revoke --user NAME ID"
        )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["create", "list", "revoke"])
        parser.add_argument("token_id", nargs="?", type=int)
        parser.add_argument("--user", required=True)
        parser.add_argument("--name", default="cli")

    def handle(self, *args, action, token_id, user, name, **options):
        try:
            owner = User.objects.get(username=user)
        except User.DoesNotExist as exc:
            raise CommandError(_("No user named %(name)s") % {"name": repr(user)}) from exc
        if action == "create":
            token, plain = api_token_create(user=owner, name=name)
            self.stdout.write(plain)  # only the token on stdout, so that scripts can capture it
            self.stderr.write(
                _("Token %(id)d (%(name)s) for %(user)s. It is shown once; keep it safe.")
                % {"id": token.pk, "name": token.name, "user": owner.username}
            )
        elif action == "list":
            for t in ApiToken.objects.filter(user=owner):
                state = _("revoked") if t.revoked_at else _("active")
                used = t.last_used_at or _("never")
                line = _("last used %(when)s") % {"when": used}
                self.stdout.write(f"{t.pk}\t{t.name}\t{t.prefix}…\t{state}\t{line}")
        else:
            if token_id is None:
                raise CommandError(_("Give the token id to revoke"))
            if not api_token_revoke(user=owner, token_id=token_id):
                raise CommandError(_("No such active token."))
            self.stdout.write(_("Revoked token %(id)d") % {"id": token_id})
