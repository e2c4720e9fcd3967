"""Users, teams, roles and API tokens."""

from __future__ import annotations

import hashlib
import secrets

from django.db import transaction
from django.utils import timezone

from kramar.accounts.models import ApiToken, Membership, Role, RoleGrant, Team, User

TOKEN_PREFIX = "kr_"

# The roles every installation starts with (data migrations create them; admins edit them freely).
_CLIENT_DATA = ["company", "contact", "interaction", "deal", "task", "conversation"]
_ACTIONS = list(RoleGrant.Action.values)
_ALL, _TEAM, _OWN = RoleGrant.Scope.ALL, RoleGrant.Scope.TEAM, RoleGrant.Scope.OWN
DEFAULT_ROLES: dict[str, dict[tuple[str, str], int]] = {
    "Administrator": {(e, a): _ALL for e in RoleGrant.Entity.values for a in _ACTIONS},
    "Sales director": {(e, a): _ALL for e in RoleGrant.Entity.values for a in _ACTIONS},
    "Team lead": {
        **{(e, a): _TEAM for e in _CLIENT_DATA for a in _ACTIONS},
        ("product", "view"): _ALL,
    },
    "Sales rep": {
        **{(e, "view"): _TEAM for e in _CLIENT_DATA},
        **{(e, "create"): _OWN for e in _CLIENT_DATA},
        **{(e, "change"): _OWN for e in _CLIENT_DATA},
        ("interaction", "delete"): _OWN,
        ("task", "delete"): _OWN,
        ("product", "view"): _ALL,
    },
}


def roles_ensure_defaults() -> None:
    for name, grants in DEFAULT_ROLES.items():
        role, _created = Role.objects.get_or_create(name=name)
        for (entity, action), scope in grants.items():
            RoleGrant.objects.get_or_create(role=role, entity=entity, action=action, defaults={"scope": scope})


@transaction.atomic
def user_create(
    *, username: str, password: str | None = None, email: str = "", first_name: str = "", last_name: str = "",
    teams: list[Team] | None = None, roles: list[str] | None = None, is_superuser: bool = False,
    language: str = "en",
) -> User:
    user = User(
        username=username, email=email, first_name=first_name, last_name=last_name, language=language,
        is_staff=is_superuser, is_superuser=is_superuser,
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    for i, team in enumerate(teams or []):
        Membership.objects.create(user=user, team=team, is_primary=i == 0)
    if roles:
        user.roles.set(Role.objects.filter(name__in=roles))
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def api_token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the plain token, which is shown once and never stored."""
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name[:64] or "token", prefix=plain[:10], digest=_digest(plain))
    return token, plain


def api_token_authenticate(plain: str) -> User | None:
    if not plain or not plain.startswith(TOKEN_PREFIX):
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=_digest(plain), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def api_token_revoke(*, user: User, token_id: int) -> bool:
    return bool(
        ApiToken.objects.filter(pk=token_id, user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
    )


def user_set_language(*, user: User, language: str, request=None) -> None:
    user.language = language
    user.save(update_fields=["language"])
    if request is not None:
        request.session["kramar_language"] = language
