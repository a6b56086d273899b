"""E-mail without personal data where it is only being looked at.

`ConsoleEmailBackend`, the default when no EMAIL_URL is set (`make run`, demos, a worker without a
mail server), writes each message to the console as Django's console backend does, but as a
reader's summary: the recipients masked, the manage link's token replaced by `…`, no e-mail
address, phone number or (where the message says it, `personal_data`) name, and the HTML part and
attachments named but not shown. Whatever reads the worker's or the server's output (a terminal,
a log collector) learns nothing it should not.

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
SEPARATOR = "-" * 79

# "5.1.1" at the start of a server's reply: what went wrong, in the standard's words.
_ENHANCED_STATUS = re.compile(r"\s*([245]\.\d{1,3}\.\d{1,3})\b")


def personal_data_redact(text: str, personal_data: tuple[str, ...] = ()) -> str:
    """`text` without the strings the message says are personal, then as the log filter leaves it."""
    for value in sorted({v for v in personal_data if v and len(v) > 1}, key=len, reverse=True):
        text = text.replace(value, NAME_MARK)
    return redact(text)


def _masked(addresses) -> str:
    return ", ".join(EMAIL_MARK for _ in addresses) or "(none)"


class ConsoleEmailBackend(DjangoConsoleBackend):
    """Django's console backend, but each message as a redacted summary (module docstring)."""

    def write_message(self, message: EmailMessage) -> None:
        personal = tuple(getattr(message, "personal_data", ()) or ())
        lines = [
            f"Subject: {personal_data_redact(str(message.subject), personal)}",
            f"From: {_masked([message.from_email])}",
            f"To: {_masked(message.to)}",
        ]
        if message.cc:
            lines.append(f"Cc: {_masked(message.cc)}")
        if message.bcc:
            lines.append(f"Bcc: {_masked(message.bcc)}")
        for _content, mimetype in getattr(message, "alternatives", None) or ():
            lines.append(f"Alternative: {mimetype} (not shown)")
        for attachment in message.attachments:
            filename, mimetype = _attachment_name(attachment)
            lines.append(f"Attachment: {personal_data_redact(filename, personal)} ({mimetype}, not shown)")
        body = personal_data_redact(str(message.body), personal)
        self.stream.write("\n".join(lines) + "\n\n" + body.rstrip("\n") + "\n" + SEPARATOR + "\n")


def _attachment_name(attachment) -> tuple[str, str]:
    if isinstance(attachment, tuple):  # (filename, content, mimetype), or Django 5.2's namedtuple
        return str(attachment[0] or "(no name)"), str(attachment[2] or "")
    return str(attachment.get_filename() or "(no name)"), attachment.get_content_type()


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
