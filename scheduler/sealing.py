"""Secrets that must wait somewhere (a manage token until its e-mail is sent) are kept sealed:
encrypted and authenticated with a key derived from SECRET_KEY (Fernet: AES-128-CBC + HMAC)."""

from __future__ import annotations

import base64
import functools
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def _fernet() -> Fernet:
    return _fernet_of(settings.SECRET_KEY)


@functools.lru_cache(maxsize=4)
def _fernet_of(secret_key: str) -> Fernet:
    """Derived once per key, not on every booking (a test may change SECRET_KEY: keyed by it)."""
    key = hashlib.sha256(b"nagano-counter:sealing\0" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def unseal(sealed: str) -> str | None:
    """The secret, or None when it cannot be opened (another SECRET_KEY, a damaged value)."""
    if not sealed:
        return None
    try:
        return _fernet().decrypt(sealed.encode()).decode()
    except (InvalidToken, ValueError):
        return None
