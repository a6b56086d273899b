"""Admin index: the day-page links for the venues the user may see."""

from __future__ import annotations

from typing import Any

from django import template

from venues.scoping import is_prefecture_admin, venues_for

register = template.Library()


@register.simple_tag(takes_context=True)
def queue_venues(context: dict[str, Any]) -> dict[str, Any]:
    """{'venues': [...], 'admin': bool}; administrators get every active venue."""
    user = context["request"].user
    admin = is_prefecture_admin(user)
    venues = venues_for(user).order_by("sort_order", "code")
    if admin:
        venues = venues.filter(is_active=True, windows__isnull=False).distinct()
    return {"venues": list(venues), "admin": admin}
