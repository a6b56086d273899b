"""What to bring comes from one function: the pages, the e-mails and the calendar file agree."""

from __future__ import annotations

from datetime import date

import pytest
from django.utils import translation

from bookings import notifications
from bookings.contact import contact_clean
from bookings.guidance import what_to_bring
from bookings.ics import booking_ics
from bookings.services import booking_create
from bookings.slots import slots_generate
from scheduler.clock import at_jst
from tests import builders

pytestmark = pytest.mark.django_db

ANSWERS = {
    "card_valid": True,
    "chip_ok": True,
    "licence_suspended": False,
    "card_only": True,
    "signature_cert_valid": True,
    "knows_signature_pin": True,
}


def booked(code: str, language: str = "ja"):
    place = builders.venue(procedures=(code,))
    now = at_jst(date(2026, 12, 1), 9)
    slots_generate(now=now, venues=[place])
    return booking_create(
        venue=place,
        procedure=place.procedures.get(),
        start=at_jst(date(2026, 12, 14), 10),
        contact=contact_clean(name="長野 太郎", phone="", email="taro@example.jp"),
        answers=ANSWERS,
        now=now,
        language=language,
    ).booking


@pytest.mark.parametrize("code", ["record", "one-stop", "portal-link"])
@pytest.mark.parametrize("language", ["ja", "en"])
def test_the_confirmation_email_lists_exactly_what_the_pages_list(code, language):
    booking = booked(code, language)
    _subject, text, html = notifications.render(booking, kind="confirmed", token="t")
    with translation.override(language):
        items = [str(item) for item in what_to_bring(code)]
    assert items and all(item in text for item in items)
    assert sum(line.lstrip("・- ") in items for line in text.splitlines()) == len(items)
    assert all(item.replace("'", "&#x27;") in html for item in items)


def test_the_signature_pin_is_named_for_portal_link_as_for_one_stop_everywhere():
    booking = booked("portal-link")
    _subject, text, _html = notifications.render(booking, kind="confirmed", token="t")
    assert "署名用電子証明書の暗証番号" in text
    assert "署名用電子証明書の暗証番号" in booking_ics(booking).decode()
    assert not any("暗証番号" in str(item) for item in what_to_bring("record"))


def test_only_a_page_that_shows_the_qr_code_mentions_it():
    assert not any("QR" in str(item) for item in what_to_bring("record"))
    assert any("QR" in str(item) for item in what_to_bring("record", with_qr=True))


CHIP_NOTE = "ICチップに空きが足りないと、その日はこの手続ができません。"


@pytest.mark.parametrize("code", ["record", "re-record", "one-stop", "portal-link"])
def test_what_to_bring_says_what_happens_when_the_chip_has_no_room_for_the_procedures_that_ask(code):
    with translation.override("ja"):
        assert any(str(item).startswith(CHIP_NOTE) for item in what_to_bring(code))


@pytest.mark.parametrize("code", ["erase", "holding-change", ""])
def test_what_to_bring_says_nothing_of_the_chip_where_it_is_not_asked(code):
    with translation.override("ja"):
        assert not any("ICチップ" in str(item) for item in what_to_bring(code))


@pytest.mark.parametrize(
    ("language", "note"),
    [("ja", CHIP_NOTE), ("en", "If the IC chip has not enough room left, this procedure cannot be done")],
)
def test_the_confirmation_email_says_what_happens_when_the_chip_has_no_room(language, note):
    _subject, text, html = notifications.render(booked("record", language), kind="confirmed", token="t")
    assert note in text and note in html
    calendar = booking_ics(booked("re-record", language)).decode().replace("\r\n ", "").replace("\\,", ",")
    assert note in calendar


@pytest.mark.parametrize(
    ("language", "pending"), [("ja", "電話番号は確認中です"), ("en", "the number is being checked")]
)
def test_the_email_holds_back_an_unconfirmed_venue_phone_with_a_note(language, pending):
    booking = booked("record", language)
    booking.venue.phone, booking.venue.phone_verified = "026-000-1111", False
    booking.venue.save()
    _subject, text, html = notifications.render(booking, kind="confirmed", token="t")
    assert "026-000-1111" not in text and "026-000-1111" not in html
    assert pending in text and pending in html
    booking.venue.phone_verified = True
    booking.venue.save()
    _subject, text, html = notifications.render(booking, kind="confirmed", token="t")
    assert "026-000-1111" in text and pending not in text


def test_an_email_says_nothing_of_a_phone_when_no_number_is_known():
    _subject, text, _html = notifications.render(booked("record"), kind="confirmed", token="t")
    assert "電話:" not in text and "確認中" not in text
