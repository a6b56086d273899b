"""No secret and no personal data in any log: the filter that every handler carries (settings.LOGGING).

The app's own log calls never pass a name, an answer or contact data; this filter is the second
net, for what Django, Celery, the servers or a future log call might let through. Before any
formatter sees a record it rewrites the message (rendered with its arguments), the extra fields,
the traceback and the stack:

- manage tokens and hold secrets: `token=…` / `hold=…` in a query, `"token": "…"`, an
  `X-Booking-Token` header, the secret in `/api/v1/holds/<secret>/` and in an SMS's manage link
  `/b/<reference>/<token>`, and any bare run of 43
  URL-safe characters in mixed case (the length of every secret the app makes) become `…`;
- e-mail addresses (also non-ASCII and %-encoded) become `[email]`;
- Japanese phone numbers (0 and 9 or 10 more digits, with or without hyphens, spaces, brackets,
  full-width digits; or +81) become `[phone]`;
- for the access logs (`django.server` of runserver, `gunicorn.access`), every query string:
  `GET /booking/REF/?token=… HTTP/1.1` is logged as `GET /booking/REF/?… HTTP/1.1`;
- extra fields named like personal data (`name`, `phone`, `email`, `answers`, `params`…) become
  `[redacted]`, a request object becomes its method and path, any other object its class name.

Names and answers cannot be recognised in free text; keeping them out of log calls is the rule,
and `tests/test_logs.py` books with distinctive contact data and finds none of it logged.
"""

from __future__ import annotations

import datetime
import decimal
import logging
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any

SECRET_MARK = "…"
EMAIL_MARK = "[email]"
PHONE_MARK = "[phone]"
REDACTED = "[redacted]"

# Loggers whose messages are request lines (and referers): their query strings go entirely.
ACCESS_LOGGERS = ("django.server", "gunicorn.access", "uvicorn.access")

# --- Secrets ----------------------------------------------------------------------------------

_B64 = "A-Za-z0-9_-"
# name=value, name%3Dvalue (a URL inside a URL), "name": "value", 'NAME': 'value' (a META dump).
_SECRET_FIELD = re.compile(
    r"""(?ix)
    ((?:(?<=%3F)|(?<=%26)|(?<![a-z0-9]))(?:token|hold|hold_secret|secret)
     (?:=|%3D|["']\s*:\s*["']))
    [^\s"'&#,;)}\]<>]+"""
)
_SECRET_HEADER = re.compile(r"(?i)(x-booking-token\s*:\s*)[^\s,;]+")
_HOLD_PATH = re.compile(r"(/holds/)[^/\s?#\"']+")
_SMS_LINK_PATH = re.compile(r"(/b/[A-Za-z0-9]{1,20}/)[^/\s?#\"']+")  # an SMS's manage link
# token_urlsafe(32) and the unpadded base64 of an HMAC-SHA256 are 43 characters; requiring both
# cases keeps snake_case identifiers, hex digests and UUIDs (36) readable.
_BARE_SECRET = re.compile(rf"(?<![{_B64}])(?=[{_B64}]*[A-Z])(?=[{_B64}]*[a-z])[{_B64}]{{43}}(?![{_B64}])")


def redact_secrets(text: str) -> str:
    text = _SECRET_FIELD.sub(rf"\1{SECRET_MARK}", text)
    text = _SECRET_HEADER.sub(rf"\1{SECRET_MARK}", text)
    text = _HOLD_PATH.sub(rf"\1{SECRET_MARK}", text)
    text = _SMS_LINK_PATH.sub(rf"\1{SECRET_MARK}", text)
    return _BARE_SECRET.sub(SECRET_MARK, text)


# --- Contact data -----------------------------------------------------------------------------

# The last label starts with a letter: `:**@127.0.0.1` (a URL's hidden password) is no address.
_EMAIL = re.compile(r"[\w.!#$%&*+?^`{|}~-]+(?:@|%40)[\w-]+(?:\.[\w-]+)*\.(?![\d_-])[\w-]+")
_SEP = r"[ \-‐‑–—−－ー]"
_D = r"[0-9０-９]"
_PHONE = re.compile(
    # +81 and the number without its 0: +81 90-1234-5678, +81-26-000-0000, +81 (0)90…, +819012345678
    rf"[+＋]\s?(?:81|８１){_SEP}?(?:[(（][0０][)）]{_SEP}?)?"
    rf"(?P<international>{_D}{{1,4}}{_SEP}{_D}{{1,4}}{_SEP}{_D}{{3,4}}|{_D}{{9,10}})"
    # or 0 and 9 or 10 more digits: 090-1234-5678, (0265) 22-0110, 0120-123456, 09012345678, ０９０…
    rf"|(?:(?<=[Tt][Ee][Ll]:)|(?<![A-Za-z0-9_.+\-:]))(?P<national>"
    rf"[(（]?[0０]{_D}{{0,4}}(?:[)）]{_SEP}?|{_SEP}){_D}{{1,4}}{_SEP}{_D}{{3,4}}"
    rf"|[0０]{_D}{{1,4}}{_SEP}{_D}{{5,8}}"
    rf"|[0０]{_D}{{9,10}})"
    r"(?![0-9０-９A-Za-z_])"
)
_PHONE_DIGITS = {"international": (9, 10), "national": (10, 11)}


def _phone_mark(match: re.Match[str]) -> str:
    kind = "international" if match.group("international") else "national"
    digits = sum(char.isdigit() for char in match.group(kind))
    low, high = _PHONE_DIGITS[kind]
    return PHONE_MARK if low <= digits <= high else match.group()


def redact_emails(text: str) -> str:
    return _EMAIL.sub(EMAIL_MARK, text)


def redact_phones(text: str) -> str:
    return _PHONE.sub(_phone_mark, text)


def redact(text: str) -> str:
    """Text without tokens, hold secrets, e-mail addresses or phone numbers."""
    return redact_phones(redact_emails(redact_secrets(text)))


# --- Request lines ----------------------------------------------------------------------------

_QUERY = re.compile(r"((?:https?://[^\s/?#\"']+)?/[^\s?#\"']*)\?[^\s#\"']*")


def strip_query_strings(text: str) -> str:
    """`GET /booking/REF/?token=x HTTP/1.1` → `GET /booking/REF/?… HTTP/1.1` (also in URLs)."""
    return _QUERY.sub(rf"\1?{SECRET_MARK}", text)


# --- The filter -------------------------------------------------------------------------------

SENSITIVE_KEYS = frozenset(
    {
        "name",
        "full_name",
        "phone",
        "email",
        "to_address",
        "to",
        "recipients",
        "contact",
        "answers",
        "token",
        "hold",
        "hold_secret",
        "secret",
        "password",
        "params",  # SQL parameters (django.db.backends): whatever a query wrote
    }
)
# A task's or logger's dotted name under "name" (Celery's `data`) is no one's name.
_DOTTED_NAME = re.compile(r"[A-Za-z_]\w*(?:\.\w+)+")
_PLAIN_TYPES = (int, float, bool, type(None))
_KEPT_TYPES = (datetime.date, datetime.time, datetime.timedelta, decimal.Decimal, uuid.UUID)
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_TRACEBACKS = logging.Formatter()


def _is_empty(value: Any) -> bool:
    return value is None or (issubclass(type(value), str | bytes | list | tuple | dict | set) and not value)


def _clean(value: Any, clean: Callable[[str], str], key: str = "", depth: int = 0) -> Any:
    # type(value), not isinstance(): a lazy object (request.user) must not be evaluated here.
    kind = type(value)
    if key and key.lower() in SENSITIVE_KEYS and not _is_empty(value):
        if not (key.lower() == "name" and kind is str and _DOTTED_NAME.fullmatch(value)):
            return REDACTED
    if issubclass(kind, str):
        return clean(value)
    if issubclass(kind, _PLAIN_TYPES + _KEPT_TYPES):
        return value
    if issubclass(kind, bytes | bytearray):
        return clean(bytes(value).decode("utf-8", "replace"))
    if depth > 4:
        return f"<{kind.__name__}>"
    if issubclass(kind, dict):
        return {k: _clean(v, clean, str(k), depth + 1) for k, v in value.items()}
    if issubclass(kind, list | tuple | set | frozenset):
        return [_clean(item, clean, "", depth + 1) for item in value]
    if issubclass(kind, BaseException):
        return clean(f"{kind.__name__}: {value}")
    if any(base.__name__ in ("HttpRequest", "Request") for base in kind.__mro__):
        # Django's or DRF's request: its method and path, never its query string or body.
        return clean(f"{getattr(value, 'method', '?')} {getattr(value, 'path', '?')}")
    return f"<{kind.__name__}>"  # no str(): a model's or a socket's could say anything


class RedactingFilter(logging.Filter):
    """Rewrites every record it sees (and lets it through): see the module's docstring.

    Each handler carries one; rewriting twice changes nothing, so a record reaching two handlers
    costs two passes and says the same in both."""

    def __init__(self, name: str = "", access_loggers: Iterable[str] = ACCESS_LOGGERS) -> None:
        super().__init__(name)
        self.access_loggers = tuple(access_loggers)

    def _is_access_log(self, logger_name: str) -> bool:
        return any(logger_name == n or logger_name.startswith(n + ".") for n in self.access_loggers)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            self._rewrite(record)
        except Exception as error:  # never let the record through unredacted, never lose the call
            record.msg, record.args = (
                f"[a {record.levelname} record that could not be redacted ({type(error).__name__})]",
                (),
            )
            record.exc_info, record.exc_text, record.stack_info = None, None, None
            for key in [key for key in vars(record) if key not in _STANDARD_ATTRS]:
                delattr(record, key)
        return True

    def _rewrite(self, record: logging.LogRecord) -> None:
        if self._is_access_log(record.name):

            def clean(text: str) -> str:
                return redact(strip_query_strings(text))

        else:
            clean = redact

        if isinstance(record.msg, dict):  # a structured message (python-json-logger)
            record.msg = _clean(record.msg, clean)
        else:
            try:
                message = record.getMessage()
            except Exception:  # arguments that do not fit the format: keep both, cleaned
                message = f"{record.msg} {_clean(record.args, clean)}"
            record.msg, record.args = clean(message), ()
        if record.exc_info:
            record.exc_text = clean(_TRACEBACKS.formatException(record.exc_info))
            record.exc_info = None  # formatters would format the raw exception again
        elif record.exc_text:
            record.exc_text = clean(record.exc_text)
        if record.stack_info:
            record.stack_info = clean(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS:
                setattr(record, key, _clean(value, clean, key))
