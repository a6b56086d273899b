"""The only personal data we ask for: a name, a phone number, an email address."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import phonenumbers
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


def _parsed_japanese(digits: str) -> phonenumbers.PhoneNumber | None:
    """The number as the `phonenumbers` library reads it in Japan, or None if it cannot."""
    try:
        return phonenumbers.parse(digits, "JP")
    except phonenumbers.NumberParseException:
        return None


_MOBILE = re.compile(r"0[789]0[0-9]{8}")


def is_japanese_phone(digits: str) -> bool:
    """A fixed-line, mobile, IP (050) or free-dial number that can exist in Japan, written as the
    national digits starting with 0: the `phonenumbers` library's numbering plan decides, except
    that any 11 digits starting 070, 080 or 090 pass as a mobile number (blocks there are handed out
    to carriers faster than the library's data follows). `0000000000`, `090-1234-567` and other
    impossible numbers are refused."""
    if not (10 <= len(digits) <= 11 and digits.startswith("0")):
        return False
    if _MOBILE.fullmatch(digits):
        return True
    number = _parsed_japanese(digits)
    return number is not None and phonenumbers.is_valid_number_for_region(number, "JP")


def is_mobile_phone(digits: str) -> bool:
    """070, 080 or 090 and 8 digits: the numbers that can receive SMS (a fixed line cannot)."""
    return bool(_MOBILE.fullmatch(digits or ""))


def sms_opt_in_clean(*, contact: Contact, sms_opt_in: object) -> bool:
    """Whether messages go by SMS too: asked for (a real boolean) with a mobile number; asking
    with no phone or a fixed line is refused, so that nobody believes a text is coming."""
    if sms_opt_in is None or sms_opt_in is False:
        return False
    if sms_opt_in is not True:
        raise InvalidInput({"sms_opt_in": ["Must be true or false."]})
    if not is_mobile_phone(contact.phone):
        raise InvalidInput({"sms_opt_in": ["SMS needs a mobile number (070, 080 or 090)."]})
    return True


def format_phone(raw: str) -> str:
    """As people write it, with the area code's hyphens (`0265-22-0110`, `090-1234-5678`); a number
    the library cannot place is shown as it was given."""
    digits = normalize_phone(raw)
    if not digits.startswith("0"):
        return raw or ""
    number = _parsed_japanese(digits)
    if number is None or not phonenumbers.is_valid_number_for_region(number, "JP"):
        if _MOBILE.fullmatch(digits):
            return f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"
        return raw or ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


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
        elif not is_japanese_phone(clean_phone):
            errors["phone"] = ["A Japanese phone number has 10 or 11 digits, starts with 0 and exists."]

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
