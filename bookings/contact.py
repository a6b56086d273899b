"""The only personal data we ask for: a name, a phone number, an email address."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from scheduler.errors import InvalidInput

NAME_MAX = 60
_email_validator = EmailValidator()


@dataclass(frozen=True)
class Contact:
    name: str
    phone: str = ""  # digits only
    email: str = ""  # lower-cased


def normalize_phone(raw: str) -> str:
    """Digits 0-9 only; full-width digits (０-９) are accepted as typed on a Japanese phone (NFKC
    makes them ASCII). Other scripts' digits (٣, ३) are not a Japanese number: `\\d` would keep them."""
    return re.sub(r"[^0-9]", "", unicodedata.normalize("NFKC", raw or ""))


def normalize_email(raw: str) -> str:
    return unicodedata.normalize("NFKC", raw or "").strip().lower()


def _is_control(char: str) -> bool:
    return unicodedata.category(char) in {"Cc", "Cf", "Cs", "Co", "Cn"}


def contact_clean(
    *, name: object, phone: object = "", email: object = "", require_reach: bool = True
) -> Contact:
    """Validate and normalise; `require_reach` asks for a phone or an email (walk-ins need neither)."""
    errors: dict[str, list[str]] = {}
    for field, value in (("name", name), ("phone", phone), ("email", email)):
        if value is not None and not isinstance(value, str):
            errors[field] = ["Must be text."]
    if errors:
        raise InvalidInput(errors)

    clean_name = unicodedata.normalize("NFC", (name or "").strip())
    if not clean_name:
        errors["name"] = ["Enter a name."]
    elif len(clean_name) > NAME_MAX:
        errors["name"] = [f"At most {NAME_MAX} characters."]
    elif any(_is_control(char) for char in clean_name):
        errors["name"] = ["Control characters are not allowed."]

    raw_phone = (phone or "").strip()
    clean_phone = normalize_phone(raw_phone)
    if raw_phone:
        if len(raw_phone) > 30 or not re.fullmatch(
            r"[0-9\s\-‐－ー()（）+＋]*", unicodedata.normalize("NFKC", raw_phone)
        ):
            errors["phone"] = ["Enter a Japanese phone number (digits, spaces and hyphens)."]
        elif not (10 <= len(clean_phone) <= 11 and clean_phone.startswith("0")):
            errors["phone"] = ["A Japanese phone number has 10 or 11 digits and starts with 0."]

    clean_email = normalize_email(email or "")
    if clean_email:
        try:
            if len(clean_email) > 254:
                raise ValidationError("too long")
            _email_validator(clean_email)
        except ValidationError:
            errors["email"] = ["Enter a valid email address."]

    if require_reach and not clean_phone and not clean_email and "phone" not in errors:
        errors["email"] = ["Enter an email address, or a phone number."]
    if errors:
        raise InvalidInput(errors)
    return Contact(clean_name, clean_phone, clean_email)
