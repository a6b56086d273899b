"""Which venues a user may see: the one place that every admin list, page, search, autocomplete,
export and action asks.

- A prefecture administrator (superuser, or member of the group 県管理者) sees every venue.
- A venue staff user (member of 会場職員) sees the venues of their memberships (StaffMembership).
- Anyone else, and a staff user with no membership, sees nothing.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model, QuerySet

from .models import Venue

STAFF_GROUP = "会場職員"
ADMIN_GROUP = "県管理者"

M = TypeVar("M", bound=Model)


def _is_staff_user(user: Any) -> bool:
    return bool(
        user is not None
        and getattr(user, "is_authenticated", False)
        and user.is_active
        and getattr(user, "is_staff", False)
    )


def is_prefecture_admin(user: Any) -> bool:
    """Superusers and members of 県管理者; cached on the user object for the request."""
    if not _is_staff_user(user):
        return False
    if user.is_superuser:
        return True
    cached = getattr(user, "_scoping_is_admin", None)
    if cached is None:
        cached = user.groups.filter(name=ADMIN_GROUP).exists()
        user._scoping_is_admin = cached
    return cached


def venues_for(user: Any) -> QuerySet[Venue]:
    """The venues `user` may see and act on (a lazy queryset: usable as a subquery)."""
    if is_prefecture_admin(user):
        return Venue.objects.all()
    if not _is_staff_user(user):
        return Venue.objects.none()
    return Venue.objects.filter(memberships__user_id=user.pk)


def has_any_venue(user: Any) -> bool:
    return is_prefecture_admin(user) or venues_for(user).exists()


def scope(queryset: QuerySet[M], user: Any, field: str = "venue") -> QuerySet[M]:
    """`queryset` restricted to rows whose `field` (a venue foreign key path) the user may see."""
    if is_prefecture_admin(user):
        return queryset
    if not _is_staff_user(user):
        return queryset.none()
    return queryset.filter(**{f"{field}__in": venues_for(user).values("pk")})


def may_see_venue(user: Any, venue: Venue | int | None) -> bool:
    if venue is None:
        return is_prefecture_admin(user)
    pk = venue if isinstance(venue, int) else venue.pk
    return is_prefecture_admin(user) or venues_for(user).filter(pk=pk).exists()
