"""Links sent to residents: the private manage link (carries the token) and the lookup page."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings


def manage_path(reference: str, token: str) -> str:
    return f"/booking/{reference}/?{urlencode({'token': token})}"


def manage_url(reference: str, token: str) -> str:
    return f"{settings.SITE_URL}{manage_path(reference, token)}"


def lookup_url() -> str:
    """For messages that must not carry the token (reminders, venue cancellations)."""
    return f"{settings.SITE_URL}/booking/lookup/"
