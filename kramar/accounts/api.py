"""Users and teams (read only, for owner and team pickers) and the caller's own API tokens."""

from __future__ import annotations

from django.http import Http404
from ninja import Router, Status

from kramar.accounts.models import ApiToken, Team, User
from kramar.accounts.schemas import TeamOut, TeamPage, TokenCreated, TokenIn, TokenPage, UserOut, UserPage
from kramar.accounts.services import api_token_create, api_token_revoke
from kramar.core.api_support import ERRORS, Cursor, Id, Limit, actor, paginate

router = Router(tags=["accounts"])


def _users():
    return User.objects.prefetch_related("memberships")


@router.get("/users/", response={200: UserPage, **ERRORS}, operation_id="user_list")
def user_list_op(request, active: bool | None = True, limit: Limit = 50, cursor: Cursor = None):
    qs = _users() if active is None else _users().filter(is_active=active)
    return paginate(qs, order=("username", "id"), sort="username", cursor=cursor, limit=limit)


@router.get("/users/me", response={200: UserOut, **ERRORS}, operation_id="user_me")
def user_me_op(request):
    return _users().get(pk=actor(request).pk)


@router.get("/users/{user_id}", response={200: UserOut, **ERRORS}, operation_id="user_get")
def user_get_op(request, user_id: Id):
    user = _users().filter(pk=user_id).first()
    if user is None:
        raise Http404("No such user")
    return user


@router.get("/teams/", response={200: TeamPage, **ERRORS}, operation_id="team_list")
def team_list_op(request, limit: Limit = 50, cursor: Cursor = None):
    return paginate(Team.objects.all(), order=("name", "id"), sort="name", cursor=cursor, limit=limit)


@router.get("/teams/{team_id}", response={200: TeamOut, **ERRORS}, operation_id="team_get")
def team_get_op(request, team_id: Id):
    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        raise Http404("No such team")
    return team


@router.get("/tokens/", response={200: TokenPage, **ERRORS}, operation_id="token_list")
def token_list_op(request, limit: Limit = 50, cursor: Cursor = None):
    """Your own API tokens (the tokens themselves are never shown again)."""
    qs = ApiToken.objects.filter(user=actor(request))
    return paginate(qs, order=("-created_at", "-id"), sort="-created", cursor=cursor, limit=limit)


@router.post("/tokens/", response={201: TokenCreated, **ERRORS}, operation_id="token_create")
def token_create_op(request, payload: TokenIn):
    """Create a token for yourself; the response holds the token once."""
    token, plain = api_token_create(user=actor(request), name=payload.name)
    token.token = plain
    return Status(201, token)


@router.delete("/tokens/{token_id}", response={204: None, **ERRORS}, operation_id="token_revoke")
def token_revoke_op(request, token_id: Id):
    """Revoke one of your tokens; another user's token, or one already revoked, is a 404."""
    if not api_token_revoke(user=actor(request), token_id=token_id):
        raise Http404("No such token")
    return Status(204, None)
