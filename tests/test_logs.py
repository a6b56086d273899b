"""No secret and no personal data in any log (issue 11, item 4).

Everything logged (at DEBUG, through the filter of the configured handlers, in the configured
format and in JSON, extras included) and everything printed (the console e-mail backend) while
people book through the API, the pages and the worker with distinctive contact data holds none of
it: no name, phone number, e-mail address, manage token or hold secret. Then each redaction rule
alone, the SMTP refusal, and the JSON lines.
"""

from __future__ import annotations

import io
import json
import logging
import re
import runpy
import smtplib
import uuid
from datetime import date
from pathlib import Path

import pytest
from django.core.mail.backends.base import BaseEmailBackend
from django.core.servers.basehttp import WSGIRequestHandler
from django.test import Client
from django.utils.functional import SimpleLazyObject
from pythonjsonlogger.json import JsonFormatter
from rest_framework.test import APIClient

from bookings import tasks, views
from bookings.contact import Contact
from bookings.models import Booking, Notification
from bookings.services import booking_create
from bookings.slots import slots_generate
from scheduler.clock import at_jst, local
from scheduler.logs import RedactingFilter, redact, redact_emails, redact_phones, redact_secrets
from scheduler.mail import ConsoleEmailBackend, send_error_text
from venues.models import Procedure, Venue

pytestmark = pytest.mark.django_db

MONDAY = date(2026, 12, 14)
ALL_GOOD = {"card_valid": True, "chip_ok": True, "licence_suspended": False}
CARD_OK = {"card_valid": "yes", "chip_ok": "yes", "chip_has_space": "yes", "licence_not_suspended": "yes"}
SETTINGS_FILE = Path(__file__).resolve().parent.parent / "scheduler" / "settings.py"


def person(name: str) -> dict[str, str]:
    """Contact data found nowhere else: a name, a phone number as typed, an address."""
    n = uuid.uuid4().int
    return {
        "name": name,
        "phone": f"090-{n % 9000 + 1000}-{n // 9000 % 9000 + 1000}",
        "email": f"log-{uuid.uuid4().hex[:12]}@example.jp",
    }


def traces(contact: dict[str, str]) -> list[str]:
    """Every form in which the contact data could show: as typed, as stored, in parts."""
    phone_digits = re.sub(r"\D", "", contact["phone"])
    return [
        contact["name"],
        contact["name"].split()[-1],
        contact["phone"],
        phone_digits,
        phone_digits[3:],
        contact["email"],
        contact["email"].split("@")[0],
    ]


def fresh_address() -> str:
    # A fresh address per test: limits count per IP in a cache that CI shares.
    return f"192.0.2.{uuid.uuid4().int % 250 + 1}"


class Captured:
    def __init__(self, streams: list[io.StringIO], capsys) -> None:
        self.streams = streams
        self.capsys = capsys
        self.printed = ""

    def logged(self) -> str:
        return "".join(stream.getvalue() for stream in self.streams)

    def everything(self) -> str:
        """The raw lines, and each JSON line decoded again (escapes must not hide anything)."""
        out, err = self.capsys.readouterr()
        self.printed += out + err
        raw = self.logged() + self.printed
        decoded = []
        for line in raw.splitlines():
            try:
                decoded.append(json.dumps(json.loads(line), ensure_ascii=False))
            except ValueError:
                continue
        return raw + "\n" + "\n".join(decoded)

    def assert_none_of(self, *values: str) -> str:
        text = self.everything()
        for value in values:
            assert value, "an empty value proves nothing"
            at = text.find(value)
            assert at < 0, f"{value!r} was logged or printed: …{text[max(0, at - 200) : at + 200]}…"
        return text


def configured_console():
    (handler,) = [
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(f, RedactingFilter) for f in handler.filters)
    ]
    return handler


def json_formatter(settings) -> JsonFormatter:
    options = {key: value for key, value in settings.LOGGING["formatters"]["json"].items() if key != "()"}
    return JsonFormatter(**options)


@pytest.fixture
def captured(settings, capsys):
    """Handlers on the root at DEBUG, each with the configured console handler's filters: one with
    its formatter, one with the JSON formatter of settings.LOGGING (which shows the extra fields)."""
    console = configured_console()
    root = logging.getLogger()
    streams, handlers = [], []
    for formatter in (console.formatter, json_formatter(settings)):
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setLevel(logging.DEBUG)
        handler.setFormatter(formatter)
        for one in console.filters:
            handler.addFilter(one)
        root.addHandler(handler)
        streams.append(stream)
        handlers.append(handler)
    saved_level = root.level
    root.setLevel(logging.DEBUG)
    settings.EMAIL_BACKEND = "scheduler.mail.ConsoleEmailBackend"
    yield Captured(streams, capsys)
    root.setLevel(saved_level)
    for handler in handlers:
        root.removeHandler(handler)


@pytest.fixture
def centre(nagano, travel):
    """Hokushin licence centre with its slots, seen on Tuesday 1 December 2026 at 09:00 JST."""
    now = travel(2026, 12, 1, 9, 0)
    slots_generate(now=now, venues=Venue.objects.filter(code="hokushin-centre"))
    return Venue.objects.get(code="hokushin-centre")


def runserver_logs(request_line: str, status: str = "200") -> None:
    """What runserver's request handler logs for one request (django.server)."""

    class Handler:
        request = object()  # the socket

        def log_date_time_string(self) -> str:
            return "01/Dec/2026 09:00:00"

    WSGIRequestHandler.log_message(Handler(), '"%s" %s %s', request_line, status, "0")


def gunicorn_logs(request_line: str, referer: str) -> None:
    """What gunicorn's access log logs for one request: its format and a dict of atoms."""
    path, _, query = request_line.split(" ")[1].partition("?")
    atoms = {"h": "192.0.2.1", "r": request_line, "U": path, "q": query, "s": "302", "b": "0", "f": referer}
    logging.getLogger("gunicorn.access").info('%(h)s "%(r)s" %(s)s %(b)s "%(f)s"', atoms)


# --- Everything through the API, the pages and the worker --------------------------------------


def test_a_booking_through_the_api_pages_and_worker_leaves_no_contact_data_in_the_logs(
    centre, captured, travel, django_capture_on_commit_callbacks
):
    by_api, on_the_pages = person("試験 ログ花子"), person("試験 ログ次郎")

    # The API: a hold, a booking with it, a look-up, a wrong token, a refused phone.
    api = APIClient(REMOTE_ADDR=fresh_address())
    seat = {"venue": "hokushin-centre", "procedure": "record", "start": "2026-12-14T10:00:00+09:00"}
    hold = api.post("/api/v1/holds/", seat, format="json").json()["hold"]
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/bookings/", {"hold": hold, **by_api, "answers": ALL_GOOD}, format="json")
    assert response.status_code == 201, response.content
    api_reference, api_token = response.json()["reference"], response.json()["token"]
    assert api.get(f"/api/v1/bookings/{api_reference}/", HTTP_X_BOOKING_TOKEN=api_token).status_code == 200
    assert api.get(f"/api/v1/bookings/{api_reference}/", HTTP_X_BOOKING_TOKEN="wrong").status_code == 404
    refused = api.post(
        "/api/v1/bookings/", {**seat, **by_api, "phone": "12", "answers": ALL_GOOD}, format="json"
    )
    assert refused.status_code == 400

    # The pages: the six steps, the done page, the manage link, a wrong token, a cancellation.
    web = Client(REMOTE_ADDR=fresh_address())
    assert web.post("/book/", {"procedure": "record"}).url == "/book/questions/"
    assert web.post("/book/questions/", CARD_OK).url == "/book/venue/"
    assert web.post("/book/venue/", {"venue": "hokushin-centre"}).url == "/book/date/"
    start = local(at_jst(MONDAY, 10, 10)).isoformat()
    assert web.post("/book/date/", {"start": start}).url == "/book/contact/"
    assert web.post("/book/contact/", on_the_pages).url == "/book/confirm/"
    with django_capture_on_commit_callbacks(execute=True):
        assert web.post("/book/confirm/", {}).url == "/book/done/"
    web_reference = web.session[views.BOOKED]["reference"]
    done = web.get("/book/done/").content.decode()
    web_token = re.search(rf'href="/booking/{web_reference}/\?token=([\w-]+)"', done).group(1)
    assert web.get(f"/booking/{web_reference}/?token={web_token}").status_code == 302
    assert Client().get(f"/booking/{web_reference}/?token=wrong").status_code == 404
    assert web.get(f"/booking/{web_reference}/cancel/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        web.post(f"/booking/{web_reference}/cancel/", {})
    assert Booking.objects.get(reference=web_reference).status == "cancelled"

    # The worker: the evening before, the reminder is recorded, then the sweep sends it.
    travel(2026, 12, 13, 18, 0)
    assert tasks.reminders_send() == 1
    assert tasks.notifications_sweep() == {"sent": 1}
    assert set(Notification.objects.values_list("state", flat=True)) == {"sent"}

    # The access logs of those requests, as runserver and gunicorn write them.
    runserver_logs(f"GET /booking/{web_reference}/?token={web_token} HTTP/1.1", "302")
    runserver_logs(f"GET /booking/{web_reference}/?token=wrong HTTP/1.1", "404")
    runserver_logs(f"DELETE /api/v1/holds/{hold}/ HTTP/1.1", "204")
    phone, email = on_the_pages["phone"], on_the_pages["email"].replace("@", "%40")
    runserver_logs(f"GET /booking/lookup/?reference={web_reference}&phone={phone}&email={email} HTTP/1.1")
    gunicorn_logs(
        f"GET /booking/{api_reference}/?token={api_token} HTTP/1.1",
        referer=f"http://127.0.0.1:8000/booking/{api_reference}/?token={api_token}",
    )

    text = captured.assert_none_of(*traces(by_api), *traces(on_the_pages), api_token, web_token, hold)
    # What was captured is what was asked for: the mails, the requests, the access lines.
    assert f"GET /booking/{web_reference}/?… HTTP/1.1" in text
    assert f"/booking/{api_reference}/?…" in text
    assert "DELETE /api/v1/holds/…/ HTTP/1.1" in text
    assert "Not Found: /booking/" in text and '"request": "GET /booking/' in text
    for reference in (api_reference, web_reference):
        assert f"予約番号 {reference}" in captured.printed  # confirmation (and reminder, cancellation)
    mails = [line for line in captured.printed.splitlines() if line.startswith("mail: ")]
    assert len(mails) == 4  # 2 confirmations, 1 cancellation, 1 reminder: one line each
    assert all(line.startswith("mail: to [email] subject ") for line in mails)
    for reference in (api_reference, web_reference):
        assert any(f"(reference {reference}; full text: /admin/bookings/notification/" in m for m in mails)


# --- The SMTP refusal ----------------------------------------------------------------------------


class RecipientRefusingBackend(BaseEmailBackend):
    """A mail server that refuses the recipient, saying the address as real servers do."""

    def send_messages(self, email_messages):
        address = email_messages[0].to[0]
        reply = f"5.1.1 <{address}>: Recipient address rejected: User unknown".encode()
        raise smtplib.SMTPRecipientsRefused({address: (550, reply)})


def test_an_smtp_refusal_logs_and_keeps_the_error_class_and_code_but_never_the_address(
    centre, captured, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "tests.test_logs.RecipientRefusingBackend"
    settings.NOTIFICATION_MAX_ATTEMPTS = 2
    contact = person("試験 ログ三郎")
    api = APIClient(REMOTE_ADDR=fresh_address())
    body = {"venue": "hokushin-centre", "procedure": "record", "start": "2026-12-14T10:20:00+09:00"}
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/bookings/", {**body, **contact, "answers": ALL_GOOD}, format="json")
    assert response.status_code == 201
    row = Notification.objects.get(booking__reference=response.json()["reference"])
    assert (row.state, row.last_error) == (Notification.State.PENDING, "SMTPRecipientsRefused: 550 5.1.1")

    settings.CLOCK_NOW = row.next_attempt_at.isoformat()
    assert tasks.notifications_sweep() == {"failed": 1}
    row.refresh_from_db()
    assert (row.state, row.last_error) == (Notification.State.FAILED, "SMTPRecipientsRefused: 550 5.1.1")

    text = captured.assert_none_of(*traces(contact), response.json()["token"])
    assert "attempt 1 failed (SMTPRecipientsRefused: 550 5.1.1)" in text
    assert "failed for good after 2 attempts: SMTPRecipientsRefused: 550 5.1.1" in text


@pytest.mark.parametrize(
    ("error", "described"),
    [
        (
            smtplib.SMTPRecipientsRefused({"hanako@example.jp": (550, b"<hanako@example.jp> no such user")}),
            "SMTPRecipientsRefused: 550",
        ),
        (
            smtplib.SMTPSenderRefused(553, b"5.7.1 <yoyaku@example.jp> sender rejected", "yoyaku@example.jp"),
            "SMTPSenderRefused: 553 5.7.1 <[email]> sender rejected",
        ),
        (smtplib.SMTPDataError(451, b"Try again later"), "SMTPDataError: 451 Try again later"),
        (
            ConnectionRefusedError(111, "Connection refused"),
            "ConnectionRefusedError: [Errno 111] Connection refused",
        ),
        (
            smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
            "SMTPServerDisconnected: Connection unexpectedly closed",
        ),
        (OSError("cannot deliver to hanako@example.jp"), "OSError: cannot deliver to [email]"),
    ],
)
def test_a_send_error_is_described_by_its_class_and_codes_without_the_recipient(error, described):
    assert send_error_text(error) == described


# --- The console e-mail backend --------------------------------------------------------------


def test_the_console_backend_is_the_default_without_a_mail_server(monkeypatch):
    for name in ("EMAIL_URL", "EMAIL_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    assert runpy.run_path(str(SETTINGS_FILE))["EMAIL_BACKEND"] == "scheduler.mail.ConsoleEmailBackend"


def test_the_console_backend_prints_one_line_per_message_with_the_recipient_and_name_masked():
    from django.core.mail import EmailMultiAlternatives

    token = "Abcdefghijklmnopqrstuvwxyz0123456789_-ABCDE"
    link = f"http://127.0.0.1:8000/booking/ABCD2345/?token={token}"
    message = EmailMultiAlternatives(
        subject="【予約確定】（予約番号 ABCD2345）",
        body=f"試験 ログ花子 様\n\n{link}\n窓口 026-000-0000\n",
        from_email="yoyaku@example.jp",
        to=["hanako@example.jp"],
    )
    message.attach_alternative(f"<p>試験 ログ花子 様 {token}</p>", "text/html")
    message.attach("booking-ABCD2345.ics", b"BEGIN:VCALENDAR", "text/calendar")
    message.personal_data = ("試験 ログ花子", "hanako@example.jp")
    message.full_text_path = "/admin/bookings/notification/12/change/"
    stream = io.StringIO()
    assert ConsoleEmailBackend(stream=stream).send_messages([message]) == 1
    assert stream.getvalue() == (
        "mail: to [email] subject 【予約確定】（予約番号 ABCD2345） "
        "(reference ABCD2345; full text: /admin/bookings/notification/12/change/)\n"
    )


def test_the_console_line_masks_a_name_in_the_subject_and_says_when_there_is_no_reference():
    from django.core.mail import EmailMessage

    message = EmailMessage(
        subject="試験 ログ花子 様へ\nお知らせ", body="本文", to=["a@example.jp", "b@example.jp"]
    )
    message.personal_data = ("試験 ログ花子",)
    stream = io.StringIO()
    ConsoleEmailBackend(stream=stream).send_messages([message])
    assert stream.getvalue() == "mail: to [email], [email] subject [name] 様へ お知らせ (no reference)\n"


def test_the_whole_message_is_on_the_outbox_page_of_the_admin_without_the_manage_token(
    centre, client, captured, django_capture_on_commit_callbacks
):
    from django.contrib.auth.models import User

    with django_capture_on_commit_callbacks(execute=True):
        created = booking_create(
            venue=centre,
            procedure=Procedure.objects.get(code="erase"),
            start=at_jst(date(2026, 12, 14), 10, 0),
            contact=Contact("試験 ログ花子", "", "hanako@example.jp"),
            answers={},
            now=at_jst(date(2026, 12, 1), 9, 0),
        )
    notification = Notification.objects.get(booking=created.booking)
    captured.assert_none_of(created.token, "ログ花子", "hanako")
    line = next(line for line in captured.printed.splitlines() if line.startswith("mail: "))
    path = f"/admin/bookings/notification/{notification.pk}/change/"
    assert line.endswith(f"(reference {created.booking.reference}; full text: {path})")
    client.force_login(User.objects.create_superuser("outbox-admin", password="a-long-test-password-42"))
    page = client.get(path).content.decode()
    assert "試験 ログ花子 様" in page and created.booking.reference in page
    assert "マイナ免許証の窓口のご予約が確定しました。" in page
    assert created.token not in page and "?token=" not in page  # the manage link is the resident's alone


# --- Each rule -----------------------------------------------------------------------------------

TOKEN = "Q2xhcmlmeS1hLXNlY3JldC1vZi00My1jaGFyYWN0ZXI"  # 43 URL-safe characters, as new_secret() makes


def test_a_manage_token_in_a_query_string_is_replaced_by_an_ellipsis():
    assert redact_secrets(f"/booking/ABCD2345/?token={TOKEN}") == "/booking/ABCD2345/?token=…"
    assert (
        redact_secrets("/booking/ABCD2345/?lang=en&token=short&x=1")
        == "/booking/ABCD2345/?lang=en&token=…&x=1"
    )
    assert redact_secrets(f"next=%2Fbooking%2FABCD2345%2F%3Ftoken%3D{TOKEN}") == (
        "next=%2Fbooking%2FABCD2345%2F%3Ftoken%3D…"
    )


def test_a_secret_in_a_path_a_field_a_header_or_alone_is_replaced():
    assert redact_secrets(f"DELETE /api/v1/holds/{TOKEN}/ HTTP/1.1") == "DELETE /api/v1/holds/…/ HTTP/1.1"
    assert redact_secrets(f'{{"reference": "ABCD2345", "token": "{TOKEN}"}}') == (
        '{"reference": "ABCD2345", "token": "…"}'
    )
    assert redact_secrets(f"{{'hold': '{TOKEN}'}}") == "{'hold': '…'}"
    assert redact_secrets(f"X-Booking-Token: {TOKEN}") == "X-Booking-Token: …"
    assert redact_secrets(f"'HTTP_X_BOOKING_TOKEN': 'x{TOKEN[1:20]}'") == "'HTTP_X_BOOKING_TOKEN': '…'"
    assert redact_secrets(f"made {TOKEN}.") == "made …."


@pytest.mark.parametrize(
    "address",
    ["taro@example.jp", "Taro.Nagano+yoyaku@mail.example.co.jp", "はなこ@example.jp", "taro%40example.jp"],
)
def test_email_addresses_are_replaced(address):
    assert redact_emails(f"to <{address}>, then") == "to <[email]>, then"


@pytest.mark.parametrize(
    "phone",
    [
        "090-1234-5678",
        "09012345678",
        "026-000-0000",
        "0265-22-0110",
        "(0265) 22-0110",
        "0120-123456",
        "090 1234 5678",
        "０９０－１２３４－５６７８",
        "+81 90-1234-5678",
        "+81-26-000-0000",
        "+81 (0)90 1234 5678",
        "+819012345678",
    ],
)
def test_japanese_phone_numbers_are_replaced_however_they_are_written(phone):
    assert redact_phones(f"phone={phone}, 電話{phone}です") == "phone=[phone], 電話[phone]です"


def test_dates_times_ids_references_and_digests_stay_readable():
    text = (
        "2026-12-14T10:00:00+09:00 2026-12-01 22:27:20,123 10:00 1234-5678 "
        "Task bookings.notification_send[1b4e28ba-2fa1-11d2-883f-0016d3cca427] succeeded in 0.0123456789s "
        "{'sent': 0, 'retry': 1} 198.51.100.7 ABCD2345 notification 12 attempt 3 month=2026-12 "
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 1733050000123 0901234567890 "
        "test_a_booking_through_the_api_pages_and_w could not hold: the slot is full "
        "Connected to redis://:**@127.0.0.1:6379/11"
    )
    assert redact(text) == text


def test_the_access_logs_lose_their_query_strings_and_other_logs_keep_harmless_ones(captured):
    runserver_logs("GET /book/date/?month=2026-12 HTTP/1.1")
    gunicorn_logs("GET /book/date/?month=2026-12 HTTP/1.1", referer="http://example.jp/book/?step=2")
    logging.getLogger("bookings.views").info("asked for %s", "/book/date/?month=2026-12")
    lines = [json.loads(line) for line in captured.streams[1].getvalue().splitlines()]
    lines = [
        line for line in lines if line["logger"] in ("django.server", "gunicorn.access", "bookings.views")
    ]
    assert [(line["logger"], line["message"]) for line in lines] == [
        ("django.server", '"GET /book/date/?… HTTP/1.1" 200 0'),
        ("gunicorn.access", '192.0.2.1 "GET /book/date/?… HTTP/1.1" 302 0 "http://example.jp/book/?…"'),
        ("bookings.views", "asked for /book/date/?month=2026-12"),
    ]
    assert lines[0]["request"] == "<object>" and lines[0]["status_code"] == 200


def test_extra_fields_named_like_personal_data_and_objects_are_redacted(captured, rf):
    request = rf.get(f"/booking/ABCD2345/?token={TOKEN}")
    logging.getLogger("bookings").warning(
        "looked up",
        extra={
            "email": "taro@example.jp",
            "answers": {"card_valid": True},
            "contact": {"name": "試験 ログ花子"},
            "data": {"name": "bookings.notification_send", "args": "('taro@example.jp',)"},
            "request": request,
            "booking": Booking(name="試験 ログ花子"),
            "note": f"call 090-1234-5678 or use {TOKEN}",
            "user": SimpleLazyObject(lambda: pytest.fail("the filter evaluated a lazy object")),
        },
    )
    (line,) = [
        json.loads(line) for line in captured.streams[1].getvalue().splitlines() if '"bookings"' in line
    ]
    assert {
        key: line[key]
        for key in ("email", "answers", "contact", "data", "request", "booking", "note", "user")
    } == {
        "email": "[redacted]",
        "answers": "[redacted]",
        "contact": "[redacted]",
        "data": {"name": "bookings.notification_send", "args": "('[email]',)"},
        "request": "GET /booking/ABCD2345/",
        "booking": "<Booking>",
        "note": "call [phone] or use …",
        "user": "<SimpleLazyObject>",
    }


def test_a_traceback_and_a_message_with_arguments_are_redacted_too(captured):
    try:
        raise ValueError("cannot reach taro@example.jp at 090-1234-5678")
    except ValueError:
        logging.getLogger("bookings").exception("sending to %s failed", "taro@example.jp")
    logged = captured.logged()
    assert "sending to [email] failed" in logged and "ValueError: cannot reach [email] at [phone]" in logged
    # The number in each shape it could be written in (a fragment like "1234" can turn up in a
    # timestamp's microseconds).
    assert "taro" not in logged and "1234-5678" not in logged and "12345678" not in logged


# --- The configuration --------------------------------------------------------------------------


def test_every_configured_handler_carries_the_redacting_filter(settings):
    config = settings.LOGGING
    assert config["filters"]["redact"]["()"] == "scheduler.logs.RedactingFilter"
    for name, handler in config["handlers"].items():
        assert "redact" in handler.get("filters", []), name
    live = [logging.getLogger()] + [
        logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    for logger in live:
        for handler in logger.handlers:
            if type(handler).__module__.startswith("_pytest") or isinstance(handler, logging.NullHandler):
                continue  # pytest's own capture; a library's handler that writes nothing
            assert any(isinstance(f, RedactingFilter) for f in handler.filters), (logger.name, handler)
    for name in ("django", "django.server", "django.request", "gunicorn.access"):
        assert logging.getLogger(name).handlers == [], f"{name} has handlers of its own"


def test_logs_are_json_lines_with_time_level_logger_and_message(settings):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter(settings))
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("tests.logs.json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("notification %s attempt %d failed", 12, 2)
        try:
            raise RuntimeError("line one\nline two")
        except RuntimeError:
            logger.exception("予約の送信に失敗しました")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["level"], line["logger"], line["message"]) for line in lines] == [
        ("WARNING", "tests.logs.json", "notification 12 attempt 2 failed"),
        ("ERROR", "tests.logs.json", "予約の送信に失敗しました"),
    ]
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", line["time"]) for line in lines)
    assert "RuntimeError: line one\nline two" in lines[1]["exc_info"]


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({"DEBUG": "0"}, "json"),
        ({"DEBUG": "1"}, "text"),
        ({"DEBUG": "1", "LOG_FORMAT": "json"}, "json"),
        ({"DEBUG": "0", "LOG_FORMAT": "text"}, "text"),
    ],
)
def test_the_format_is_json_unless_debug_and_log_format_decides(monkeypatch, environment, expected):
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    monkeypatch.setenv("SECRET_KEY", "k" * 25 + uuid.uuid4().hex)  # whatever production asks of it
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    logging_config = runpy.run_path(str(SETTINGS_FILE))["LOGGING"]
    assert logging_config["handlers"]["console"]["formatter"] == expected
    assert logging_config["loggers"]["django.db.backends"]["level"] == "WARNING"
