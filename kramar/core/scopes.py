"""Record scopes, decided in one place.

A role grants, per entity and action, a scope: own records, the own team's records, or all. A user's
scope for (entity, action) is the widest among their roles' grants; superusers see all. `restrict()` is
the only function that turns that into a queryset filter, and every path (pages, API, search, exports,
bulk actions) reads through it, via each model's `QuerySet.visible_to(user, action)`.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

OWN, TEAM, ALL = 1, 2, 3
NONE = 0


def user_grants(user) -> dict[tuple[str, str], int]:
    """{(entity, action): scope} for the user, cached on the instance for the request."""
    cached = getattr(user, "_kramar_grants", None)
    if cached is not None:
        return cached
    from kramar.accounts.models import RoleGrant

    grants: dict[tuple[str, str], int] = {}
    if user is not None and user.is_authenticated and user.is_active:
        for entity, action, scope in RoleGrant.objects.filter(role__users=user).values_list(
            "entity", "action", "scope"
        ):
            key = (entity, action)
            grants[key] = max(grants.get(key, NONE), scope)
    user._kramar_grants = grants
    return grants


def user_team_ids(user) -> list[int]:
    cached = getattr(user, "_kramar_team_ids", None)
    if cached is None:
        cached = list(user.memberships.values_list("team_id", flat=True)) if user.is_authenticated else []
        user._kramar_team_ids = cached
    return cached


def scope_for(user, entity: str, action: str) -> int:
    if user is None or not user.is_authenticated or not user.is_active:
        return NONE
    if user.is_superuser:
        return ALL
    return user_grants(user).get((entity, action), NONE)


def can(user, entity: str, action: str) -> bool:
    """Whether the user may do `action` on at least some records of `entity`."""
    return scope_for(user, entity, action) > NONE


def scope_q(user, scope: int, *, owner_field: str = "owner", team_field: str = "team") -> Q | None:
    """The filter for a scope; None means no filter (all)."""
    if scope >= ALL:
        return None
    if scope == TEAM:
        return Q(**{f"{owner_field}_id": user.pk}) | Q(**{f"{team_field}_id__in": user_team_ids(user)})
    if scope == OWN:
        return Q(**{f"{owner_field}_id": user.pk})
    return Q(pk__in=[])


def restrict(queryset: QuerySet, user, action: str = "view") -> QuerySet:
    """Limit `queryset` to the records `user` may `action`. The model names its entity in
    `scope_entity`; models whose visibility follows another record define `scope_filter(user, scope)`."""
    model = queryset.model
    entity = model.scope_entity
    scope = scope_for(user, entity, action)
    if scope == NONE:
        return queryset.none()
    custom = getattr(model, "scope_filter", None)
    q = custom(user, scope) if custom else scope_q(user, scope)
    return queryset if q is None else queryset.filter(q)


def record_allowed(user, obj, action: str) -> bool:
    """Whether one loaded record is inside the user's scope for `action` (no query for own/all)."""
    scope = scope_for(user, obj.scope_entity, action)
    if scope == NONE:
        return False
    if scope >= ALL:
        return True
    checker = getattr(obj, "scope_allows", None)
    if checker is not None:
        return checker(user, scope)
    if obj.owner_id == user.pk:
        return True
    return scope == TEAM and obj.team_id is not None and obj.team_id in user_team_ids(user)


def visible_ids(user, model, ids, action: str = "view") -> set[int]:
    """Which of `ids` (None entries ignored) the user may `action`, through the model's `visible_to`: one query
    for a whole page of linked records, none when there are no ids. Used to show a linked record's name only
    to those who may see that record."""
    wanted = {int(pk) for pk in ids if pk is not None}
    if not wanted:
        return set()
    return set(model.objects.visible_to(user, action).filter(pk__in=wanted).values_list("pk", flat=True))
