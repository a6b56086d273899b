"""Messages by SMS: a second outbox row for a mobile number that asked for it, sent once, kept to
two SMS, through the console, memory or Twilio backend (the last against a local stub server)."""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from django.test import Client
from rest_framework.test import APIClient

from bookings import links, notifications, services, sms, tasks, waitlist
from bookings.contact import Contact, contact_clean
from bookings.models import Booking, Hold, Notification, WaitlistEntry
from bookings.references import new_secret, offer_secret_for
from bookings.slots import slots_generate
from scheduler import sms as channel
from scheduler.clock import at_jst
from scheduler.errors import InvalidInput
from scheduler.logs import redact
from scheduler.startup import sms_problems
from tests import builders
from tests.test_fair_shares import fresh_address
from tests.test_outbox_listener import ON_POSTGRES, Listeners
from tests.test_web_pages import CARD_OK
from venues.models import Procedure, Venue

pytestmark = pytest.mark.django_db

MONDAY = date(2026, 12, 14)
ALL_GOOD = {"card_valid": True, "chip_ok": True, "licence_suspended": False}
MOBILE = "09012345678"
State = Notification.State
SMS = Notification.Channel.SMS


@pytest.fixture
def texts(settings):
    """SMS on, kept in memory."""
    settings.SMS_URL = "memory://"
    channel.outbox.clear()
    yield channel.outbox
    channel.outbox.clear()


@pytest.fixture
def centre(nagano, travel):
    now = travel(2026, 12, 1, 9, 0)
    slots_generate(now=now, venues=Venue.objects.filter(code="hokushin-centre"))
    return Venue.objects.get(code="hokushin-centre")


def book(centre, *, phone=MOBILE, email="taro@example.jp", sms_opt_in=True, language="ja", minute=0):
    return services.booking_create(
        venue=centre,
        procedure=Procedure.objects.get(code="record"),
        start=at_jst(MONDAY, 10, minute),
        contact=Contact(name="長野 太郎", phone=phone, email=email),
        answers=ALL_GOOD,
        now=at_jst(date(2026, 12, 1), 9),
        language=language,
        sms_opt_in=sms_opt_in,
    )


def sms_rows(booking):
    return list(Notification.objects.filter(booking=booking, channel=SMS).order_by("pk"))


# --- Recording -------------------------------------------------------------------------------------


def test_a_mobile_number_that_opted_in_gets_its_confirmation_by_sms_beside_the_email(
    centre, texts, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        created = book(centre)
    booking = created.booking
    assert booking.sms_opt_in is True
    (row,) = sms_rows(booking)
    assert (row.kind, row.to_address, row.dedupe_key) == ("confirmed", MOBILE, f"sms:confirmed:{booking.pk}")
    assert len(mailoutbox) == 1  # the e-mail still goes
    ((to, text),) = texts
    assert to == MOBILE
    assert booking.reference in text and "12/14(月)10:00 北信運転免許センター" in text
    assert links.sms_manage_url(booking.reference, created.token) in text
    row.refresh_from_db()
    assert (row.state, row.token_sealed, row.body_text) == (State.SENT, "", "")  # the token is forgotten


def test_without_the_opt_in_or_with_sms_off_no_sms_row_is_written(
    centre, texts, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        plain = book(centre, sms_opt_in=False).booking
    assert sms_rows(plain) == [] and texts == []
    settings.SMS_URL = ""
    with django_capture_on_commit_callbacks(execute=True):
        asked = book(centre, phone="08011112222", email="hanako@example.jp", minute=10).booking
    assert asked.sms_opt_in is True and sms_rows(asked) == []  # the wish is kept; SMS is off


def test_a_fixed_line_or_no_phone_cannot_ask_for_sms(centre, texts):
    for phone in ("0262345678", ""):
        with pytest.raises(InvalidInput) as refused:
            book(centre, phone=phone)
        assert "sms_opt_in" in refused.value.fields
    assert Booking.objects.count() == 0


def test_a_phone_only_resident_gets_the_confirmation_and_the_reminder_by_sms(
    centre, texts, travel, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        created = book(centre, email="")
    booking = created.booking
    assert [row.kind for row in Notification.objects.filter(booking=booking)] == ["confirmed"]
    assert len(texts) == 1 and created.booking.reference in texts[0][1]

    evening = travel(2026, 12, 13, 18, 0)
    with django_capture_on_commit_callbacks(execute=True):
        assert notifications.reminders_record(day=MONDAY, now=evening) == 1
        assert notifications.reminders_record(day=MONDAY, now=evening) == 0  # the 19:00 run adds nothing
    assert [row.kind for row in sms_rows(booking)] == ["confirmed", "reminder"]
    reminder = texts[1][1]
    assert reminder.startswith("【明日のご予約】12/14(月)10:00 北信運転免許センター")
    assert links.lookup_url() in reminder and created.token not in reminder
    assert all(row.state == State.SENT for row in sms_rows(booking))


def test_a_venue_cancellation_is_texted_with_the_staff_note_and_without_the_token(
    centre, texts, travel, django_capture_on_commit_callbacks
):
    created = book(centre, email="")
    with django_capture_on_commit_callbacks(execute=True):
        services.booking_cancel_by_venue(
            booking=created.booking, now=travel(2026, 12, 2, 9, 0), actor=None, note="停電のため"
        )
    (_to, text), *_ = [t for t in texts if "【重要】" in t[1]]
    assert "12/14(月)10:00 北信運転免許センターの予約" in text and "理由：停電のため" in text
    assert created.token not in text
    assert channel.segments(text) <= 2


def test_residents_cancelling_or_moving_themselves_get_no_sms(
    centre, texts, django_capture_on_commit_callbacks
):
    created = book(centre)
    with django_capture_on_commit_callbacks(execute=True):
        services.booking_cancel(booking=created.booking, now=at_jst(date(2026, 12, 2), 9))
    assert [row.kind for row in sms_rows(created.booking)] == ["confirmed"]


def test_the_send_task_run_twice_sends_one_sms(centre, texts, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        created = book(centre)
    (row,) = sms_rows(created.booking)
    assert tasks.notification_send(row.pk) == "not_claimed"
    assert tasks.notifications_sweep() == {}
    assert len(texts) == 1


def test_an_english_booking_is_texted_in_english_in_the_gsm_alphabet(
    centre, texts, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        created = book(centre, language="en")
    ((_to, text),) = texts
    assert text.startswith(f"Booking confirmed: {created.booking.reference}\nMon 14 Dec 10:00 Hokushin")
    assert channel.is_gsm7(text) and channel.segments(text) == 2  # 164 characters: 153 per part


# --- Lengths -------------------------------------------------------------------------------------


def test_segments_follow_the_carriers_limits():
    assert [channel.segments("a" * n) for n in (0, 1, 160, 161, 306, 307)] == [0, 1, 1, 2, 2, 3]
    assert channel.segments("€" * 80) == 1 and channel.segments("€" * 81) == 2  # two septets each
    assert [channel.segments("あ" * n) for n in (70, 71, 134, 135)] == [1, 2, 2, 3]
    assert channel.segments("a" * 159 + "あ") == 3  # one Japanese character makes it all UCS-2
    assert channel.units("🙂") == 2  # outside the BMP: two UTF-16 units


def worst_cases(language: str) -> dict[str, tuple[int, int, str]]:
    """Each kind rendered for the venue with the longest name, the default SITE_URL and a real
    43-character token: (characters, segments, text)."""
    venue = max(Venue.objects.all(), key=lambda v: len(v.name_en if language == "en" else v.name))
    start = at_jst(MONDAY, 14, 30)
    booking = Booking(
        reference="WWWWWWWW",
        venue=venue,
        start=start,
        end=start + timedelta(minutes=10),
        language=language,
        phone=MOBILE,
    )
    entry = WaitlistEntry(secret_hash="f" * 64, venue=venue, language=language)
    hold = Hold(
        start=start, end=start + timedelta(minutes=10), expires_at=at_jst(MONDAY, 9) - timedelta(days=1)
    )
    rendered = {
        "confirmed": sms.booking_text(booking, kind="confirmed", token=new_secret()),
        "reminder": sms.booking_text(booking, kind="reminder"),
        "cancelled_by_venue": sms.booking_text(
            booking, kind="cancelled_by_venue", note="庁舎の停電により本日の受付を中止します" * 5
        ),
        "waitlist_offer": sms.offer_text(entry, hold=hold),
    }
    return {kind: (channel.units(text), channel.segments(text), text) for kind, text in rendered.items()}


@pytest.mark.parametrize("language", ["ja", "en"])
def test_every_kind_of_text_keeps_to_two_sms_in_the_worst_case(nagano, travel, language):
    travel(2026, 12, 12, 9, 0)  # the offer's expiry on another day: the longest "until"
    measured = worst_cases(language)
    print(language, {kind: (units, parts) for kind, (units, parts, _text) in measured.items()})
    for kind, (units, parts, text) in measured.items():
        assert parts <= 2, (kind, units, text)
    confirmed = measured["confirmed"][2]
    assert "WWWWWWWW" in confirmed and "/b/WWWWWWWW/" in confirmed
    assert "中南信運転免許センター" in confirmed or "Chunanshin" in confirmed  # the venue still fits


def test_a_long_site_address_drops_the_venue_name_before_it_overflows(nagano, settings):
    settings.SITE_URL = "https://yoyaku.police.pref.nagano.lg.jp"
    _units, parts, text = worst_cases("ja")["confirmed"]
    assert parts == 2 and "中南信" not in text and "/b/WWWWWWWW/" in text


# --- The short manage link -----------------------------------------------------------------------


def test_the_sms_link_opens_the_manage_page_and_never_reaches_a_log_line(centre, texts):
    created = book(centre)
    client = Client()
    response = client.get(links.sms_manage_path(created.booking.reference, created.token))
    assert response.status_code == 302 and response["Location"] == f"/booking/{created.booking.reference}/"
    assert client.get(response["Location"]).status_code == 200
    assert Client().get(f"/b/{created.booking.reference}/{'x' * 43}").status_code == 404
    line = f'"GET /b/{created.booking.reference}/{created.token} HTTP/1.1" 302 0'
    assert created.token not in redact(line) and created.booking.reference in redact(line)


# --- The contact step and the API ------------------------------------------------------------------


def test_the_contact_step_offers_sms_and_refuses_it_for_a_fixed_line(centre, texts, settings):
    client = Client(REMOTE_ADDR=fresh_address())
    assert client.post("/book/", {"procedure": "record"}).url == "/book/questions/"
    assert client.post("/book/questions/", CARD_OK).url == "/book/venue/"
    assert client.post("/book/venue/", {"venue": "hokushin-centre"}).url == "/book/date/"
    assert client.post("/book/date/", {"start": "2026-12-14T10:00:00+09:00"}).url == "/book/contact/"
    page = client.get("/book/contact/").content.decode()
    assert "SMSで通知を受け取る" in page
    refused = client.post(
        "/book/contact/", {"name": "長野 太郎", "phone": "026-234-5678", "sms_opt_in": "on"}
    )
    assert refused.status_code == 200 and "携帯電話の番号（070・080・090" in refused.content.decode()
    accepted = client.post(
        "/book/contact/", {"name": "長野 太郎", "phone": "090-1234-5678", "sms_opt_in": "on"}
    )
    assert accepted.status_code == 302
    assert "SMSでも通知" in client.get("/book/confirm/").content.decode()
    client.post("/book/confirm/")
    booking = Booking.objects.get()
    assert (booking.phone, booking.email, booking.sms_opt_in) == (MOBILE, "", True)
    settings.SMS_URL = ""
    assert "SMSで通知を受け取る" not in Client().get("/book/contact/").content.decode()


def post_booking(**overrides):
    body = {
        "venue": "hokushin-centre",
        "procedure": "record",
        "start": "2026-12-14T10:00:00+09:00",
        "name": "長野 太郎",
        "phone": "090-1234-5678",
        "answers": ALL_GOOD,
    }
    body.update(overrides)
    return APIClient().post("/api/v1/bookings/", body, format="json")


def test_the_api_takes_sms_opt_in_as_a_strict_boolean_for_a_mobile_number(
    centre, texts, django_capture_on_commit_callbacks
):
    assert post_booking(sms_opt_in="yes").json()["fields"].keys() == {"sms_opt_in"}
    assert post_booking(sms_opt_in=True, phone="026-234-5678", email="t@example.jp").status_code == 400
    with django_capture_on_commit_callbacks(execute=True):
        created = post_booking(sms_opt_in=True)
    assert created.status_code == 201 and created.json()["sms_opt_in"] is True
    assert len(texts) == 1 and created.json()["reference"] in texts[0][1]


# --- The waiting list's offer --------------------------------------------------------------------


def test_a_waiting_list_offer_is_texted_with_its_link_and_the_booking_keeps_the_opt_in(
    db, travel, texts, django_capture_on_commit_callbacks
):
    place = builders.venue(code="wait-centre", procedures=("erase",), windows=(("10:00", "10:10"),))
    now = travel(2026, 12, 1, 9, 0)
    slots_generate(now=now, venues=[place], days=20)
    erase = Procedure.objects.get(code="erase")
    taken = services.booking_create(
        venue=place,
        procedure=erase,
        start=at_jst(MONDAY, 10),
        contact=contact_clean(name="先客", phone="08011110000"),
        answers={},
        now=now,
    )
    joined = waitlist.waitlist_join(
        venue=place,
        procedure=erase,
        first_day=MONDAY,
        contact=contact_clean(name="待つ人", phone="070-1234-5678"),
        answers={},
        now=now,
        sms_opt_in=True,
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.booking_cancel(booking=taken.booking, now=now)
    (row,) = Notification.objects.filter(waitlist_entry=joined.entry)
    assert (row.channel, row.kind, row.state) == (SMS, "waitlist_offer", State.SENT)
    ((_to, text),) = [t for t in texts if t[0] == "07012345678"]
    assert text.startswith("【空き枠のご案内】12/14(月)10:00") and "09:30まで" in text
    assert links.waitlist_url(offer_secret_for(joined.entry.secret_hash)) in text
    assert channel.segments(text) <= 2

    with django_capture_on_commit_callbacks(execute=True):
        created = waitlist.waitlist_accept(secret=joined.secret, now=now)
    assert created.booking.sms_opt_in is True
    assert [r.kind for r in sms_rows(created.booking)] == ["confirmed"]


# --- Backends ------------------------------------------------------------------------------------


def test_the_console_backend_prints_one_line_without_the_number_or_the_text(
    centre, settings, capsys, django_capture_on_commit_callbacks
):
    settings.SMS_URL = "console://"
    with django_capture_on_commit_callbacks(execute=True):
        created = book(centre)
    out = capsys.readouterr().out
    (line,) = [line for line in out.splitlines() if line.startswith("sms:")]
    assert line.startswith("sms: to [phone] 2 segments")
    assert f"reference {created.booking.reference}" in line and "/admin/bookings/notification/" in line
    assert MOBILE not in out and created.token not in out


class Stub(BaseHTTPRequestHandler):
    """Twilio's Messages endpoint as its documentation describes it; answers from `replies`."""

    requests: list[dict] = []
    replies: list[tuple[int, dict]] = []

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        Stub.requests.append(
            {
                "path": self.path,
                "authorization": self.headers["Authorization"],
                "content_type": self.headers["Content-Type"],
                "form": parse_qs(self.rfile.read(length).decode()),
            }
        )
        status, body = Stub.replies.pop(0) if Stub.replies else (201, {"sid": "SM" + "0" * 32})
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def twilio(settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Stub.requests, Stub.replies = [], []
    port = server.server_address[1]
    settings.SMS_URL = f"twilio+http://AC{'1' * 32}:secret-auth-token@127.0.0.1:{port}?from=%2B815012345678"
    yield Stub
    server.shutdown()
    server.server_close()


def test_the_twilio_backend_posts_the_documented_request(centre, twilio, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        created = book(centre)
    (request,) = twilio.requests
    account = "AC" + "1" * 32
    assert request["path"] == f"/2010-04-01/Accounts/{account}/Messages.json"
    assert (
        request["authorization"]
        == "Basic " + base64.b64encode(f"{account}:secret-auth-token".encode()).decode()
    )
    assert request["content_type"].startswith("application/x-www-form-urlencoded")
    form = request["form"]
    assert form["To"] == ["+819012345678"] and form["From"] == ["+815012345678"]
    assert links.sms_manage_url(created.booking.reference, created.token) in form["Body"][0]
    (row,) = sms_rows(created.booking)
    row.refresh_from_db()
    assert row.state == State.SENT


def test_a_busy_provider_is_retried_with_the_outbox_back_off_then_sent(
    centre, twilio, settings, django_capture_on_commit_callbacks
):
    twilio.replies = [(503, {"code": 20500, "message": "Service unavailable"})]
    start = at_jst(date(2026, 12, 1), 9)
    with django_capture_on_commit_callbacks(execute=True):
        created = book(centre)
    (row,) = sms_rows(created.booking)
    row.refresh_from_db()
    assert (row.state, row.attempts, row.next_attempt_at) == (State.PENDING, 1, start + timedelta(seconds=60))
    assert row.last_error == "SmsError: HTTP 503, Twilio error 20500 (provider busy or down)"
    assert row.token_sealed  # still needed for the next attempt
    settings.CLOCK_NOW = (start + timedelta(seconds=60)).isoformat()
    assert tasks.notifications_sweep() == {"sent": 1}
    row.refresh_from_db()
    assert (row.state, row.token_sealed) == (State.SENT, "")
    assert len(twilio.requests) == 2


def test_a_number_the_provider_refuses_fails_at_once_and_nothing_personal_is_logged(
    centre, twilio, caplog, django_capture_on_commit_callbacks
):
    twilio.replies = [
        (
            400,
            {
                "code": 21211,
                "message": "The 'To' number +819012345678 is not a valid phone number.",
                "status": 400,
            },
        )
    ]
    with caplog.at_level(logging.DEBUG), django_capture_on_commit_callbacks(execute=True):
        created = book(centre)
    (row,) = sms_rows(created.booking)
    row.refresh_from_db()
    assert (row.state, row.attempts, row.next_attempt_at) == (State.FAILED, 1, None)
    assert row.last_error == "SmsRejected: HTTP 400, Twilio error 21211" and row.token_sealed == ""
    logged = caplog.text
    assert "21211" in logged
    for secret in (created.token, "9012345678", "secret-auth-token"):
        assert secret not in logged
    assert not re.search(r"\d{10}", row.last_error)


def test_an_unreachable_provider_is_retried():
    with pytest.raises(channel.SmsError) as error:
        channel._twilio_send(
            channel.backend_from_url("twilio+http://AC1:t@127.0.0.1:9?from=X"), MOBILE, "テスト"
        )
    assert not error.value.permanent and "provider unreachable" in str(error.value)


def test_production_refuses_an_sms_url_that_sends_nothing_or_cannot_be_read():
    assert sms_problems("") == []
    assert sms_problems("twilio://AC1:t@api.twilio.com?from=%2B815012345678") == []
    assert sms_problems("console://") and sms_problems("memory://")
    (problem,) = sms_problems("twilio://AC1:hunter2@api.twilio.com")
    assert "from=" in problem and "hunter2" not in problem


@pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL (LISTEN/NOTIFY): CI's second run has it")
@pytest.mark.django_db(transaction=True)
@pytest.mark.xdist_group("pg-race")
def test_the_outbox_listener_sends_an_sms_row_woken_by_the_insert_trigger(db, travel, settings, texts):
    settings.OUTBOX_WAKE = "notify"
    settings.OUTBOX_LISTEN_IDLE_SECONDS = 30  # a quick send can only come from the NOTIFY
    place = builders.venue(code="listen-sms", procedures=("erase",))
    slots_generate(now=travel(2026, 12, 1, 9, 0), venues=[place])
    running = Listeners(1)
    try:
        created = services.booking_create(
            venue=place,
            procedure=Procedure.objects.get(code="erase"),
            start=at_jst(MONDAY, 10),
            contact=Contact(name="長野 太郎", phone=MOBILE),
            answers={},
            now=at_jst(date(2026, 12, 1), 9),
            sms_opt_in=True,
        )
        started = time.monotonic()
        while not texts and time.monotonic() - started < 5:
            time.sleep(0.02)
    finally:
        running.close()
    assert len(texts) == 1 and created.booking.reference in texts[0][1]
    started = time.monotonic()  # the row is marked sent just after the text is handed over
    while Notification.objects.get().state != State.SENT and time.monotonic() - started < 5:
        time.sleep(0.02)
    assert Notification.objects.get().state == State.SENT
