"""E-mail without personal data where it is only being looked at.

`ConsoleEmailBackend`, the default when no EMAIL_URL is set (`make run`, demos, a worker without a
mail server), writes one line per message to the console, where Django's console backend writes the
whole message: `mail: to [email] subject 【予約確定】… (reference ABCD2345; full text:
/admin/bookings/notification/12/change/)` — the recipients masked, the subject without any e-mail
address, phone number or (where the message says it, `personal_data`) name. The message itself is
on the outbox row's page in the admin (NotificationAdmin), for staff, with the manage token left
out. Whatever reads the worker's or the server's output (a terminal, a log collector) learns
nothing it should not.

`send_error_text` says why a send failed without saying to whom: the error's class and the SMTP
codes, never the recipient (`SMTPRecipientsRefused`'s text is the refused address).
"""

from __future__ import annotations

import re
import smtplib

from django.core.mail.backends.console import EmailBackend as DjangoConsoleBackend
from django.core.mail.message import EmailMessage

from .logs import EMAIL_MARK, redact

NAME_MARK = "[name]"

# "5.1.1" at the start of a server's reply: what went wrong, in the standard's words.
_ENHANCED_STATUS = re.compile(r"\s*([245]\.\d{1,3}\.\d{1,3})\b")


def personal_data_redact(text: str, personal_data: tuple[str, ...] = ()) -> str:
    """`text` without the strings the message says are personal, then as the log filter leaves it."""
    for value in sorted({v for v in personal_data if v and len(v) > 1}, key=len, reverse=True):
        text = text.replace(value, NAME_MARK)
    return redact(text)


def _masked(addresses) -> str:
    return ", ".join(EMAIL_MARK for _ in addresses) or "(none)"


# A booking reference (bookings.references: 8 of A–Z and 2–9), for a message that does not carry one.
_REFERENCE = re.compile(r"(?<![A-Z0-9])[A-HJKMNP-Z2-9]{8}(?![A-Z0-9])")


def console_line(message: EmailMessage) -> str:
    """`mail: to [email] subject … (reference ABCD2345; full text: /admin/…/12/change/)`."""
    personal = tuple(getattr(message, "personal_data", ()) or ())
    subject = " ".join(personal_data_redact(str(message.subject), personal).split())
    recipients = [*message.to, *message.cc, *message.bcc]
    reference = getattr(message, "reference", "") or next(iter(_REFERENCE.findall(subject)), "")
    about = [f"reference {reference}" if reference else "no reference"]
    if full_text := getattr(message, "full_text_path", ""):
        about.append(f"full text: {full_text}")
    return f"mail: to {_masked(recipients)} subject {subject} ({'; '.join(about)})"


class ConsoleEmailBackend(DjangoConsoleBackend):
    """Django's console backend, but each message as one redacted line (module docstring)."""

    def write_message(self, message: EmailMessage) -> None:
        self.stream.write(console_line(message) + "\n")


def send_error_text(error: BaseException) -> str:
    """`SMTPRecipientsRefused: 550 5.1.1`, `SMTPDataError: 451 Try again later`,
    `ConnectionRefusedError: [Errno 111] Connection refused`: the class and codes, no recipient."""
    name = type(error).__name__
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = []
        for value in (error.recipients or {}).values():
            code, reply = (
                (value[0], value[1]) if isinstance(value, tuple) and len(value) > 1 else (value, b"")
            )
            if isinstance(reply, bytes):
                reply = reply.decode("utf-8", "replace")
            enhanced = _ENHANCED_STATUS.match(str(reply))
            codes.append(f"{code} {enhanced.group(1)}" if enhanced else str(code))
        return f"{name}: {', '.join(sorted(set(codes))) or 'refused'}"
    if isinstance(error, smtplib.SMTPResponseException):  # SMTPSenderRefused, SMTPDataError…
        reply = error.smtp_error
        if isinstance(reply, bytes):
            reply = reply.decode("utf-8", "replace")
        return redact(f"{name}: {error.smtp_code} {reply}").strip()
    return redact(f"{name}: {error}")
