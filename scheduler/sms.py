"""Text messages (SMS): how long a text is, and how it leaves (`SMS_URL`).

`send_sms(to, text)` hands one text to the backend `SMS_URL` names and returns the provider's
message id, or raises `SmsError`: `permanent` ones (the provider refused this message: a number
that cannot get SMS, a malformed request) are not tried again; the others (the provider busy or
down, 429, 5xx, a timeout, refused credentials) are retried by the outbox with its back-off.
Error texts carry the HTTP status and the provider's error code, never the number or the text
(the provider's own message quotes the number).

`SMS_URL`:

- empty (the default with DEBUG off): SMS is off; the app writes no SMS rows.
- `console://` (the default with DEBUG on, `make run`): one line per text on standard output,
  `sms: to [phone] 2 segments, 118 characters (reference ABCD2345; full text: /admin/…)`: no
  number, no text (the confirmation's text carries the manage token), like `scheduler.mail`.
- `memory://`: kept in `outbox` (a list of `(to, text)`), for tests.
- `twilio://ACCOUNT_SID:AUTH_TOKEN@api.twilio.com?from=%2B815012345678`: Twilio Programmable
  Messaging (docs/sms.md says why, and which request format this follows). `from` is the sender
  (a Twilio number in E.164, or an approved alphanumeric sender id); the host may be another
  (a regional edge); `twilio+http://…@127.0.0.1:PORT` is plain HTTP, for a local stub only.

Lengths (`segments`): a text in the GSM 7-bit alphabet fits 160 characters in one SMS and 153
per part when split; any other character (Japanese) makes the whole text UCS-2: 70 in one, 67
per part (the carriers' limits; counted in UTF-16 units).
"""

from __future__ import annotations

import base64
import json
import math
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from django.conf import settings

from .logs import PHONE_MARK

# --- Lengths -----------------------------------------------------------------------------------

# The GSM 03.38 default alphabet, and its extension table (each of those costs two septets).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")
GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


def is_gsm7(text: str) -> bool:
    return all(char in GSM7_BASIC or char in GSM7_EXTENDED for char in text)


def units(text: str) -> int:
    """Septets (GSM-7) or UTF-16 code units (UCS-2): what the carriers' limits count."""
    if is_gsm7(text):
        return sum(2 if char in GSM7_EXTENDED else 1 for char in text)
    return len(text.encode("utf-16-le")) // 2


def segments(text: str) -> int:
    """How many SMS the text is sent as (0 for an empty text)."""
    count = units(text)
    single, part = (GSM7_SINGLE, GSM7_PART) if is_gsm7(text) else (UCS2_SINGLE, UCS2_PART)
    if count <= single:
        return 1 if count else 0
    return math.ceil(count / part)


def max_units(parts: int, *, gsm7: bool) -> int:
    """The longest text that still goes in `parts` SMS."""
    single, part = (GSM7_SINGLE, GSM7_PART) if gsm7 else (UCS2_SINGLE, UCS2_PART)
    return single if parts == 1 else part * parts


# --- Errors ------------------------------------------------------------------------------------


class SmsError(Exception):
    """A text not sent; tried again later unless `permanent`."""

    permanent = False


class SmsRejected(SmsError):
    """The provider refused this very message (e.g. a number that cannot get SMS): never retried."""

    permanent = True


class SmsConfigError(SmsError):
    """`SMS_URL` cannot be read. Retried: the operator may fix it before the attempts run out."""


# --- Backends ----------------------------------------------------------------------------------

outbox: list[tuple[str, str]] = []  # memory://
_outbox_lock = threading.Lock()


@dataclass(frozen=True)
class Backend:
    kind: str  # console, memory, twilio
    base_url: str = ""  # twilio: scheme://host[:port]
    account: str = ""
    secret: str = ""
    sender: str = ""


def is_enabled() -> bool:
    return bool((getattr(settings, "SMS_URL", "") or "").strip())


def backend_from_url(url: str) -> Backend:
    """Read `SMS_URL` (module docstring); SmsConfigError says what is wrong, never the secret."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme in ("console", "memory"):
        return Backend(scheme)
    if scheme in ("twilio", "twilio+http"):
        query = parse_qs(parts.query)
        sender = (query.get("from") or [""])[0].strip()
        account, secret = unquote(parts.username or ""), unquote(parts.password or "")
        if not (account and secret and parts.hostname and sender):
            raise SmsConfigError("SMS_URL: twilio:// needs ACCOUNT_SID:AUTH_TOKEN@host and ?from=")
        http = "http" if scheme == "twilio+http" else "https"
        port = f":{parts.port}" if parts.port else ""
        return Backend("twilio", f"{http}://{parts.hostname}{port}", account, secret, sender)
    raise SmsConfigError(f"SMS_URL: unknown scheme {scheme!r} (console, memory, twilio)")


def e164(national: str) -> str:
    """`09012345678` → `+819012345678` (numbers are stored as national digits, from 0)."""
    digits = "".join(char for char in national if char.isdigit())
    return f"+81{digits[1:]}" if digits.startswith("0") else f"+{digits}"


def send_sms(to: str, text: str, *, reference: str = "", full_text_path: str = "") -> str:
    """Send `text` to the Japanese number `to` (national digits); the provider's message id.

    `reference` and `full_text_path` only name the message on the console's line."""
    url = (getattr(settings, "SMS_URL", "") or "").strip()
    if not url:
        raise SmsConfigError("SMS is off (SMS_URL is empty)")
    backend = backend_from_url(url)
    if backend.kind == "console":
        about = [f"reference {reference}" if reference else "no reference"]
        if full_text_path:
            about.append(f"full text: {full_text_path}")
        sys.stdout.write(
            f"sms: to {PHONE_MARK} {segments(text)} segments, {units(text)} characters ({'; '.join(about)})\n"
        )
        sys.stdout.flush()
        return "console"
    if backend.kind == "memory":
        with _outbox_lock:
            outbox.append((to, text))
            return f"memory-{len(outbox)}"
    return _twilio_send(backend, to, text)


# --- Twilio Programmable Messaging -------------------------------------------------------------
# POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json, form-encoded To, From, Body, HTTP
# basic auth AccountSid:AuthToken; 201 with the Message resource (`sid`), or an error JSON
# {"code", "message", "more_info", "status"} (docs/sms.md cites the pages).


def _twilio_error(status: int, payload: bytes) -> SmsError:
    try:
        code = json.loads(payload or b"{}").get("code")
    except (ValueError, AttributeError):
        code = None
    # The code only (an int): Twilio's `message` quotes the number ("The 'To' number … is not valid").
    what = f"HTTP {status}" + (f", Twilio error {int(code)}" if isinstance(code, int) else "")
    if status == 429 or status >= 500:
        return SmsError(f"{what} (provider busy or down)")
    if status in (401, 403):
        return SmsError(f"{what} (credentials refused: check SMS_URL)")
    return SmsRejected(what)


def _twilio_send(backend: Backend, to: str, text: str) -> str:
    url = f"{backend.base_url}/2010-04-01/Accounts/{quote(backend.account, safe='')}/Messages.json"
    body = urlencode({"To": e164(to), "From": backend.sender, "Body": text}).encode()
    credentials = base64.b64encode(f"{backend.account}:{backend.secret}".encode()).decode()
    request = urllib.request.Request(  # noqa: S310 - http(s) only: backend_from_url builds it
        url,
        data=body,
        method="POST",
        headers={
            "Authorization": f"Basic {credentials}",
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "Accept": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.SMS_TIMEOUT) as response:  # noqa: S310 - as above
            payload = response.read()
    except urllib.error.HTTPError as error:
        payload = error.read()
        error.close()
        raise _twilio_error(error.code, payload) from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise SmsError(f"{type(reason).__name__} (provider unreachable)") from None
    try:
        sid = json.loads(payload).get("sid")
    except (ValueError, AttributeError):
        sid = None
    return str(sid or "")
