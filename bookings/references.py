"""References a person can read out, and the secrets behind bookings and holds (kept as hashes)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from django.conf import settings

REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L
REFERENCE_LENGTH = 8
SECRET_MAX_LENGTH = 200


def new_reference() -> str:
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


def new_secret() -> str:
    """256 random bits, URL-safe: a booking's token or a hold's secret."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def secret_matches(stored_hash: str | None, secret: object) -> bool:
    """Constant-time comparison of a secret's hash with the stored one (none stored: same work, False)."""
    if not isinstance(secret, str) or not secret or len(secret) > SECRET_MAX_LENGTH:
        return False
    given = digest(secret)
    return hmac.compare_digest(given, stored_hash or "0" * len(given)) and stored_hash is not None


def token_for_hold(hold_secret: str) -> str:
    """The manage token of the booking a hold becomes, derived from the hold's secret.

    Whoever holds the secret may book with it, so they may also learn that booking's token: a
    repeated confirm (a double tap, a retried POST) finds the booking and shows its token again,
    where nothing else could, since only the token's hash is stored."""
    mac = hmac.new(settings.SECRET_KEY.encode(), b"booking-token\0" + hold_secret.encode(), "sha256")
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def offer_secret_for(entry_secret_hash: str) -> str:
    """The secret of the seat a waiting list entry is offered (its hold's secret), derived from
    the entry's stored hash: the offer's message and the entry's own page can both name it, and
    it is never stored (its hash is the hold's). One entry is offered one seat at most."""
    mac = hmac.new(settings.SECRET_KEY.encode(), b"waitlist-offer\0" + entry_secret_hash.encode(), "sha256")
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def reference_clean(reference: object) -> str | None:
    """A well-formed reference (upper-cased), or None; nothing malformed reaches the database."""
    if not isinstance(reference, str):
        return None
    cleaned = reference.strip().upper()
    if len(cleaned) != REFERENCE_LENGTH or any(char not in REFERENCE_ALPHABET for char in cleaned):
        return None
    return cleaned
