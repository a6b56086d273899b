"""Links sent to residents: the private manage link (carries the token) and the lookup page."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings


def manage_path(reference: str, token: str) -> str:
    return f"/booking/{reference}/?{urlencode({'token': token})}"


def manage_url(reference: str, token: str) -> str:
    return f"{settings.SITE_URL}{manage_path(reference, token)}"


def sms_manage_path(reference: str, token: str) -> str:
    """The manage link in fewer characters, for an SMS (bookings/sms.py): the token in the path
    (`scheduler.logs` redacts `/b/<reference>/<token>` in every log line); the page it opens
    moves the authorisation into the session and redirects to the clean manage page."""
    return f"/b/{reference}/{token}"


def sms_manage_url(reference: str, token: str) -> str:
    return f"{settings.SITE_URL}{sms_manage_path(reference, token)}"


def lookup_url() -> str:
    """For messages that must not carry the token (reminders, venue cancellations)."""
    return f"{settings.SITE_URL}/booking/lookup/"


def waitlist_path(secret: str) -> str:
    """A waiting list entry's private page (its secret, or its offer's)."""
    return f"/waitlist/{secret}/"


def waitlist_url(secret: str) -> str:
    return f"{settings.SITE_URL}{waitlist_path(secret)}"
