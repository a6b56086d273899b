"""The booking rules: eligibility table, contact fields, the online window, references and tokens."""

import hashlib
from datetime import date

import pytest
from rest_framework.test import APIClient

from bookings import eligibility, queue, references, services
from bookings.contact import contact_clean, format_phone
from bookings.models import Booking, Slot
from bookings.slots import slots_generate
from scheduler.clock import at_jst
from scheduler.errors import Ineligible, InvalidInput, OutsideBookingWindow, SlotFull
from tests import builders
from venues.models import Procedure, Venue

ALL_GOOD = {
    "card_valid": True,
    "chip_ok": True,
    "chip_has_space": True,
    "licence_suspended": False,
    "card_only": True,
    "signature_cert_valid": True,
    "knows_signature_pin": True,
}

# The rule table as the issue states it, written out by hand: (procedure, question, reason).
CARD_ROWS = [
    ("card_valid", "card_expired"),
    ("chip_ok", "chip_damaged"),
    ("chip_has_space", "chip_full"),
    ("licence_suspended", "licence_suspended"),
]
ONE_STOP_ROWS = [
    ("card_only", "not_card_only"),
    ("signature_cert_valid", "signature_cert_invalid"),
    ("knows_signature_pin", "pin_unknown"),
]
RULE_ROWS = [
    *[(code, q, r) for code in ("record", "re-record", "one-stop", "portal-link") for q, r in CARD_ROWS],
    *[("one-stop", q, r) for q, r in ONE_STOP_ROWS],
]
ASKED = {
    "record": {"card_valid", "chip_ok", "chip_has_space", "licence_suspended"},
    "re-record": {"card_valid", "chip_ok", "chip_has_space", "licence_suspended"},
    "portal-link": {"card_valid", "chip_ok", "chip_has_space", "licence_suspended"},
    "one-stop": set(ALL_GOOD),
    "erase": set(),
    "holding-change": set(),
}


def flipped(question: str) -> dict:
    return {**ALL_GOOD, question: not ALL_GOOD[question]}


# --- Eligibility -------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "question", "reason"), RULE_ROWS)
def test_each_row_of_the_rule_table_rules_its_procedure_out_with_its_reason(code, question, reason):
    assert eligibility.reasons_against(code, flipped(question)) == [reason]


@pytest.mark.parametrize("code", ASKED)
def test_each_procedure_asks_exactly_the_questions_of_the_table(code):
    assert {q.key for q in eligibility.questions_for(code)} == ASKED[code]


@pytest.mark.parametrize("code", ASKED)
def test_with_every_answer_good_each_procedure_is_allowed(code):
    assert eligibility.reasons_against(code, ALL_GOOD) == []


@pytest.mark.parametrize("code", ["erase", "holding-change"])
@pytest.mark.parametrize("question", list(ALL_GOOD))
def test_erase_and_holding_change_are_not_ruled_out_by_any_answer(code, question):
    assert eligibility.reasons_against(code, flipped(question)) == []


@pytest.mark.parametrize("question", ["card_only", "signature_cert_valid", "knows_signature_pin"])
def test_the_one_stop_conditions_do_not_rule_out_recording(question):
    assert eligibility.reasons_against("record", flipped(question)) == []


def test_every_reason_is_given_in_the_order_of_the_questions():
    answers = {key: not value for key, value in ALL_GOOD.items()}
    assert eligibility.reasons_against("one-stop", answers) == [
        "card_expired",
        "chip_damaged",
        "chip_full",
        "licence_suspended",
        "not_card_only",
        "signature_cert_invalid",
        "pin_unknown",
    ]


@pytest.mark.django_db
def test_the_eligibility_check_raises_ineligible_with_the_reasons():
    with pytest.raises(Ineligible) as raised:
        services.eligibility_check(
            procedure=builders.procedure("one-stop"), answers=flipped("knows_signature_pin")
        )
    assert raised.value.reasons == ["pin_unknown"]


@pytest.mark.django_db
@pytest.mark.parametrize("answer", [None, "yes", 1, 0, [], {}])
def test_an_answer_that_is_not_yes_or_no_is_invalid(answer):
    with pytest.raises(InvalidInput) as raised:
        services.eligibility_check(
            procedure=builders.procedure("record"), answers={**ALL_GOOD, "chip_ok": answer}
        )
    assert list(raised.value.fields) == ["answers.chip_ok"]


@pytest.mark.django_db
def test_only_the_answers_a_procedure_asks_are_kept():
    kept = services.eligibility_check(
        procedure=builders.procedure("record"), answers={**ALL_GOOD, "my_number": "123456789012"}
    )
    assert kept == {"card_valid": True, "chip_ok": True, "chip_has_space": True, "licence_suspended": False}


@pytest.mark.django_db
@pytest.mark.parametrize("code", ["record", "re-record", "one-stop", "portal-link"])
def test_a_chip_without_room_rules_out_the_procedures_a_damaged_chip_rules_out(code):
    with pytest.raises(Ineligible) as raised:
        services.eligibility_check(procedure=builders.procedure(code), answers=flipped("chip_has_space"))
    assert raised.value.reasons == ["chip_full"]
    damaged = {c for c, q, _r in RULE_ROWS if q == "chip_ok"}
    full = {c for c, q, _r in RULE_ROWS if q == "chip_has_space"}
    assert damaged == full


@pytest.mark.django_db
def test_an_absent_chip_has_space_counts_as_yes_and_is_not_kept():
    answers = {key: value for key, value in ALL_GOOD.items() if key != "chip_has_space"}
    kept = services.eligibility_check(procedure=builders.procedure("record"), answers=answers)
    assert kept == {"card_valid": True, "chip_ok": True, "licence_suspended": False}


@pytest.mark.django_db
@pytest.mark.parametrize("answer", [None, "yes", 1])
def test_a_chip_has_space_given_but_not_yes_or_no_is_invalid(answer):
    with pytest.raises(InvalidInput) as raised:
        services.eligibility_check(
            procedure=builders.procedure("record"), answers={**ALL_GOOD, "chip_has_space": answer}
        )
    assert list(raised.value.fields) == ["answers.chip_has_space"]


# --- Contact fields ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["長野 太郎", "ながの たろう", "Émilie Dupont-Nagano", "Nguyễn Văn An", "李", "x" * 60, "長" * 60]
)
def test_a_name_of_1_to_60_characters_in_any_script_is_accepted(name):
    assert contact_clean(name=name, phone="0260000000").name == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "   ",
        "x" * 61,
        "長" * 61,
        "長野\x00太郎",
        "長野\n太郎",
        "長野\t太郎",
        "a\u202eb",
        "a\u200bb",
        "a\x7fb",
    ],
)
def test_an_empty_long_or_control_character_name_is_refused(name):
    with pytest.raises(InvalidInput) as raised:
        contact_clean(name=name, phone="0260000000")
    assert list(raised.value.fields) == ["name"]


@pytest.mark.parametrize(
    ("raw", "digits"),
    [
        ("026-000-0000", "0260000000"),
        ("090 1234 5678", "09012345678"),
        ("０９０－１２３４－５６７８", "09012345678"),
        ("(026) 000-0000", "0260000000"),
        ("09012345678", "09012345678"),
    ],
)
def test_japanese_phone_numbers_are_kept_as_digits_full_width_digits_included(raw, digits):
    assert contact_clean(name="太郎", phone=raw).phone == digits


@pytest.mark.parametrize(
    "raw",
    [
        "026-000-000",
        "090-1234-56789",
        "1260000000",
        "026-000-000a",
        "+81 26 000 0000",
        "0" * 31,
        "0٣٣٣٣٣٣٣٣٣",  # Arabic-Indic digits: `\d`, but not a Japanese number (they were kept as they were)
    ],
)
def test_a_phone_number_that_is_not_japanese_or_not_10_to_11_digits_is_refused(raw):
    with pytest.raises(InvalidInput) as raised:
        contact_clean(name="太郎", phone=raw)
    assert list(raised.value.fields) == ["phone"]


def test_an_email_is_kept_in_lower_case():
    assert contact_clean(name="太郎", email=" Taro@Example.JP ").email == "taro@example.jp"


@pytest.mark.parametrize("email", ["taro", "taro@", "@example.jp", "taro@example", "ta ro@example.jp"])
def test_an_invalid_email_is_refused(email):
    with pytest.raises(InvalidInput) as raised:
        contact_clean(name="太郎", email=email)
    assert list(raised.value.fields) == ["email"]


def test_an_email_may_be_left_out_when_a_phone_is_given_and_not_otherwise():
    assert contact_clean(name="太郎", phone="0260000000").email == ""
    assert contact_clean(name="太郎", email="taro@example.jp").phone == ""
    with pytest.raises(InvalidInput) as raised:
        contact_clean(name="太郎")
    assert list(raised.value.fields) == ["email"]


# --- The online booking window: cut-off and horizon, with "now" injected ----------------------

MONDAY_TEN = "2026-12-14T10:00:00+09:00"


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def centre(db, travel):
    """A licence centre open on weekdays 10:00–11:00, one counter, slots made up to 40 days ahead."""
    place = builders.venue(code="rules-centre", procedures=("record", "erase"))
    slots_generate(days=40, now=travel(2026, 11, 10, 9, 0), venues=[place])
    return place


def book(api, start=MONDAY_TEN, phone="026-000-0000"):
    return api.post(
        "/api/v1/bookings/",
        {
            "venue": "rules-centre",
            "procedure": "erase",
            "start": start,
            "name": "長野 太郎",
            "phone": phone,
        },
        format="json",
    )


def test_booking_is_open_at_16_59_jst_the_day_before(api, centre, travel):
    travel(2026, 12, 13, 16, 59)
    assert book(api).status_code == 201


def test_booking_is_closed_at_17_00_jst_the_day_before(api, centre, travel):
    travel(2026, 12, 13, 17, 0)
    response = book(api)
    assert (response.status_code, response.json()["code"]) == (400, "outside_booking_window")
    assert Slot.objects.get(start=at_jst(date(2026, 12, 14), 10)).taken == 0


def test_availability_stops_listing_a_slot_at_the_cut_off(api, centre, travel):
    url = "/api/v1/venues/rules-centre/availability/?procedure=erase&from=2026-12-14&to=2026-12-14"
    travel(2026, 12, 13, 16, 59)
    assert len(api.get(url).json()["days"][0]["slots"]) == 6
    travel(2026, 12, 13, 17, 0)
    assert api.get(url).json()["days"][0]["slots"] == []


def test_rescheduling_to_a_slot_is_open_at_16_59_and_closed_at_17_00_the_day_before(api, centre, travel):
    travel(2026, 12, 1, 9, 0)
    made = book(api, start="2026-12-15T10:00:00+09:00").json()

    def move():
        return api.post(
            f"/api/v1/bookings/{made['reference']}/reschedule/",
            {"start": MONDAY_TEN},
            format="json",
            HTTP_X_BOOKING_TOKEN=made["token"],
        )

    travel(2026, 12, 13, 17, 0)
    assert move().json()["code"] == "outside_booking_window"
    travel(2026, 12, 13, 16, 59)
    assert move().json()["start"] == MONDAY_TEN


def test_a_slot_30_days_ahead_can_be_booked(api, centre, travel):
    travel(2026, 11, 10, 9, 0)  # day 30 is Thursday 10 December
    assert book(api, start="2026-12-10T10:00:00+09:00").status_code == 201


def test_a_slot_31_days_ahead_cannot_be_booked_yet(api, centre, travel):
    travel(2026, 11, 10, 23, 59)  # day 31 is Friday 11 December, still so one minute before midnight
    response = book(api, start="2026-12-11T10:00:00+09:00")
    assert (response.status_code, response.json()["code"]) == (400, "outside_booking_window")
    travel(2026, 11, 11, 0, 0)  # midnight JST: now it is day 30
    assert book(api, start="2026-12-11T10:00:00+09:00").status_code == 201


def test_the_cut_off_and_horizon_are_settings_of_the_venue(api, centre, travel):
    Venue.objects.filter(pk=centre.pk).update(cutoff_days_before=0, cutoff_time="09:00", horizon_days=40)
    travel(2026, 12, 14, 8, 59)
    assert book(api).status_code == 201
    travel(2026, 11, 10, 9, 0)
    assert book(api, start="2026-12-18T10:00:00+09:00", phone="026-000-0001").status_code == 201


def test_staff_may_book_past_the_cut_off_and_beyond_the_horizon(centre, travel):
    erase = Procedure.objects.get(code="erase")
    moments = [
        (at_jst(date(2026, 12, 14), 9, 30), at_jst(date(2026, 12, 14), 10)),  # half an hour before
        (at_jst(date(2026, 11, 10), 9, 0), at_jst(date(2026, 12, 18), 10)),  # 38 days ahead
    ]
    for index, (now, start) in enumerate(moments):
        created = services.booking_create(
            venue=centre,
            procedure=erase,
            start=start,
            contact=contact_clean(name="窓口 花子", phone=f"026000000{index}"),
            answers={},
            now=now,
            channel=Booking.Channel.STAFF,
        )
        assert created.booking.status == "confirmed"


def test_online_booking_leaves_the_seats_kept_for_staff_but_staff_may_use_them(centre, travel):
    Slot.objects.update(capacity=2, reserved=1)
    now = travel(2026, 12, 1, 9, 0)
    kwargs = {
        "venue": centre,
        "procedure": Procedure.objects.get(code="erase"),
        "start": at_jst(date(2026, 12, 14), 10),
        "answers": {},
        "now": now,
    }
    services.booking_create(contact=contact_clean(name="a", phone="0260000001"), **kwargs)
    with pytest.raises(SlotFull):
        services.booking_create(contact=contact_clean(name="b", phone="0260000002"), **kwargs)
    services.booking_create(
        contact=contact_clean(name="c", phone="0260000003"), channel=Booking.Channel.STAFF, **kwargs
    )
    assert Slot.objects.get(start=kwargs["start"]).taken == 2


def test_a_resident_cannot_cancel_once_the_visit_started(centre, travel):
    now = travel(2026, 12, 1, 9, 0)
    created = services.booking_create(
        venue=centre,
        procedure=Procedure.objects.get(code="erase"),
        start=at_jst(date(2026, 12, 14), 10),
        contact=contact_clean(name="a", phone="0260000001"),
        answers={},
        now=now,
    )
    with pytest.raises(OutsideBookingWindow):
        services.booking_cancel(booking=created.booking, now=at_jst(date(2026, 12, 14), 10))


# --- References and tokens -----------------------------------------------------------------


def test_the_reference_alphabet_has_no_ambiguous_characters():
    assert not set(references.REFERENCE_ALPHABET) & set("0O1IL")
    assert len(set(references.REFERENCE_ALPHABET)) == len(references.REFERENCE_ALPHABET) == 31


def test_references_are_8_characters_of_that_alphabet():
    drawn = {references.new_reference() for _ in range(2000)}
    assert all(len(r) == 8 and set(r) <= set(references.REFERENCE_ALPHABET) for r in drawn)
    assert len(drawn) == 2000  # 31**8 ≈ 8.5e11 possibilities


def test_a_reference_collision_is_retried_with_a_new_reference(centre, travel, monkeypatch):
    now = travel(2026, 12, 1, 9, 0)
    kwargs = {"venue": centre, "procedure": Procedure.objects.get(code="erase"), "answers": {}, "now": now}
    first = services.booking_create(
        start=at_jst(date(2026, 12, 14), 10), contact=contact_clean(name="a", phone="0260000001"), **kwargs
    )
    drawn = iter([first.booking.reference, "NEWREF22"])
    monkeypatch.setattr(services, "new_reference", lambda: next(drawn))
    second = services.booking_create(
        start=at_jst(date(2026, 12, 14), 10, 10),
        contact=contact_clean(name="b", phone="0260000002"),
        **kwargs,
    )
    assert second.booking.reference == "NEWREF22"
    assert Slot.objects.filter(taken=1).count() == 2


def test_the_token_has_at_least_128_bits_and_only_its_hash_is_stored(centre, travel):
    now = travel(2026, 12, 1, 9, 0)
    created = services.booking_create(
        venue=centre,
        procedure=Procedure.objects.get(code="erase"),
        start=at_jst(date(2026, 12, 14), 10),
        contact=contact_clean(name="a", phone="0260000001"),
        answers={},
        now=now,
    )
    assert len(created.token) >= 43  # token_urlsafe(32): 256 bits
    stored = Booking.objects.get()
    assert stored.token_hash == hashlib.sha256(created.token.encode()).hexdigest()
    assert created.token not in {str(value) for value in Booking.objects.values().get().values()}


def test_a_token_opens_only_its_own_booking(centre, travel):
    now = travel(2026, 12, 1, 9, 0)
    kwargs = {"venue": centre, "procedure": Procedure.objects.get(code="erase"), "answers": {}, "now": now}
    a = services.booking_create(
        start=at_jst(date(2026, 12, 14), 10), contact=contact_clean(name="a", phone="0260000001"), **kwargs
    )
    b = services.booking_create(
        start=at_jst(date(2026, 12, 14), 10, 10),
        contact=contact_clean(name="b", phone="0260000002"),
        **kwargs,
    )
    assert services.booking_get_for_token(reference=a.booking.reference, token=a.token) == a.booking
    with pytest.raises(services.NotFound):
        services.booking_get_for_token(reference=a.booking.reference, token=b.token)


# --- One active booking per person and procedure ----------------------------------------------


def _book(centre, now, minute: int, phone: str = "0260000001", email: str = ""):
    return services.booking_create(
        venue=centre,
        procedure=Procedure.objects.get(code="erase"),
        start=at_jst(date(2026, 12, 14), 10, minute),
        contact=contact_clean(name="a", phone=phone, email=email),
        answers={},
        now=now,
    )


@pytest.mark.parametrize("action", ["check_in", "start"])
def test_a_booking_being_served_still_counts_as_the_persons_active_booking(centre, travel, action):
    now = travel(2026, 12, 1, 9, 0)
    first = _book(centre, now, 0)
    on_the_day = at_jst(date(2026, 12, 14), 9, 55)  # the counter checks in on the visit's day only
    queue.booking_transition(booking=first.booking, action=action, now=on_the_day, actor=None)
    with pytest.raises(services.DuplicateBooking):
        _book(centre, now, 10)


@pytest.mark.parametrize("end", ["cancel", "done"])
def test_a_cancelled_or_finished_booking_no_longer_blocks_a_new_one(centre, travel, end):
    now = travel(2026, 12, 1, 9, 0)
    first = _book(centre, now, 0, email="taro@example.jp")
    if end == "cancel":
        services.booking_cancel(booking=first.booking, now=now)
    else:
        on_the_day = at_jst(date(2026, 12, 14), 9, 55)  # the counter checks in on the visit's day only
        queue.booking_transition(booking=first.booking, action="check_in", now=on_the_day, actor=None)
        queue.booking_transition(booking=first.booking, action="done", now=on_the_day, actor=None)
    assert _book(centre, now, 10, email="taro@example.jp").booking.status == "confirmed"


def test_the_same_email_alone_is_a_duplicate_even_with_another_phone(centre, travel):
    now = travel(2026, 12, 1, 9, 0)
    _book(centre, now, 0, email="taro@example.jp")
    with pytest.raises(services.DuplicateBooking):
        _book(centre, now, 10, phone="0269999999", email="taro@example.jp")


@pytest.mark.parametrize(
    "raw",
    ["0120-123-456", "050-1234-5678", "080-1234-5678", "03-1234-5678", "0265-22-0110", "0570-012-345"],
)
def test_japanese_fixed_mobile_ip_and_free_dial_numbers_are_accepted(raw):
    assert contact_clean(name="太郎", phone=raw).phone == raw.replace("-", "")


@pytest.mark.parametrize("raw", ["0000000000", "090-1234-567", "0800-000-000", "01234567890"])
def test_a_number_that_cannot_exist_in_japan_is_refused_though_it_has_10_or_11_digits(raw):
    with pytest.raises(InvalidInput) as raised:
        contact_clean(name="太郎", phone=raw)
    assert list(raised.value.fields) == ["phone"]


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("0265220110", "0265-22-0110"),
        ("０９０１２３４５６７８", "090-1234-5678"),
        ("0262922345", "026-292-2345"),
        ("0312345678", "03-1234-5678"),
        ("0120123456", "0120-123-456"),
        ("09000000001", "090-0000-0001"),
        ("12345", "12345"),  # not a Japanese number: shown as it was given
        ("", ""),
    ],
)
def test_phone_numbers_are_shown_as_people_write_them(raw, shown):
    assert format_phone(raw) == shown
