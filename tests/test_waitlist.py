"""The waiting list: a resident for whom nothing is free waits, and gets the first seat that frees up."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.core import mail
from rest_framework.test import APIClient

from bookings import notifications, retention, services, waitlist
from bookings.contact import contact_clean
from bookings.models import Booking, Hold, Notification, Slot, WaitlistEntry
from bookings.references import offer_secret_for
from bookings.slots import slots_generate
from scheduler.clock import at_jst
from scheduler.errors import (
    AlreadyWaiting,
    DuplicateBooking,
    InvalidRange,
    NoOffer,
    NotFound,
    SeatsFree,
    TooManyBookings,
)
from tests import builders
from tests.seat_checks import seat_mismatches
from venues.models import Procedure

MONDAY = date(2026, 12, 14)
TUESDAY = MONDAY + timedelta(days=1)
State = WaitlistEntry.State


@pytest.fixture
def centre(db, travel):
    """A centre taking `erase` with two one-seat slots a day (10:00, 10:10), Monday's both booked."""
    place = builders.venue(code="wait-centre", procedures=("erase",), windows=(("10:00", "10:20"),))
    now = travel(2026, 12, 1, 9, 0)
    slots_generate(now=now, venues=[place], days=20)
    place.booked = [book(place, at_jst(MONDAY, 10, minute), f"0901111{minute:04d}") for minute in (0, 10)]
    place.now = now
    return place


def erase() -> Procedure:
    return Procedure.objects.get(code="erase")


def book(place, start, phone: str):
    return services.booking_create(
        venue=place,
        procedure=erase(),
        start=start,
        contact=contact_clean(name="先客", phone=phone),
        answers={},
        now=place.now if hasattr(place, "now") else start - timedelta(days=10),
    )


def join(place, n: int, *, first=MONDAY, last=None, now=None):
    return waitlist.waitlist_join(
        venue=place,
        procedure=erase(),
        first_day=first,
        last_day=last,
        contact=contact_clean(name=f"待つ人{n}", phone=f"080{n:08d}", email=f"wait{n}@example.jp"),
        answers={},
        now=now or place.now,
    )


def run_pass(place, now=None):
    return waitlist.waitlist_pass(venue=place, now=now or place.now)


def state_of(joined) -> str:
    return WaitlistEntry.objects.get(pk=joined.entry.pk).state


# --- Joining ---------------------------------------------------------------------------------------


def test_joining_is_refused_while_a_seat_is_free_in_the_range_and_says_which(centre):
    with pytest.raises(SeatsFree) as refused:
        join(centre, 1, first=MONDAY, last=TUESDAY)
    assert refused.value.extra["first_free"] == "2026-12-15T10:00:00+09:00"
    assert WaitlistEntry.objects.count() == 0


def test_joining_a_full_day_puts_the_person_in_line_with_a_secret_kept_as_a_hash(centre):
    first, second = join(centre, 1), join(centre, 2)
    assert [waitlist.entry_position(e.entry) for e in (first, second)] == [1, 2]
    entry = WaitlistEntry.objects.get(pk=first.entry.pk)
    assert entry.state == State.WAITING and (entry.first_day, entry.last_day) == (MONDAY, MONDAY)
    assert first.secret not in entry.secret_hash and len(entry.secret_hash) == 64
    assert waitlist.entry_find(first.secret) == entry


def test_one_place_in_line_per_person_and_procedure_and_none_beside_a_booking(centre):
    join(centre, 1)
    with pytest.raises(AlreadyWaiting):
        join(centre, 1)
    with pytest.raises(DuplicateBooking):  # holds Monday's 10:00 already
        waitlist.waitlist_join(
            venue=centre,
            procedure=erase(),
            first_day=MONDAY,
            contact=contact_clean(name="先客", phone="09011110000"),
            answers={},
            sms_opt_in=True,
            now=centre.now,
        )


def test_the_per_person_cap_counts_waiting_entries_too(centre, settings):
    settings.PERSON_ACTIVE_BOOKINGS_MAX = 1
    join(centre, 1)
    other = builders.venue(code="wait-other", procedures=("record",), windows=(("10:00", "10:10"),))
    with pytest.raises(TooManyBookings):
        waitlist.waitlist_join(
            venue=other,
            procedure=Procedure.objects.get(code="record"),
            first_day=MONDAY,
            contact=contact_clean(name="待つ人1", phone="08000000001", email="wait1@example.jp"),
            answers={"card_valid": True, "chip_ok": True, "licence_suspended": False},
            now=centre.now,
        )


def test_a_direct_booking_counts_the_persons_places_in_line_for_other_procedures(centre, settings):
    settings.PERSON_ACTIVE_BOOKINGS_MAX = 1
    join(centre, 1)  # waits for `erase`
    other = builders.venue(code="wait-other", procedures=("erase", "record"), windows=(("10:00", "10:20"),))
    slots_generate(now=centre.now, venues=[other], days=20)
    person = contact_clean(name="待つ人1", phone="08000000001", email="wait1@example.jp")
    record_answers = {"card_valid": True, "chip_ok": True, "licence_suspended": False}
    with pytest.raises(TooManyBookings):
        services.booking_create(
            venue=other,
            procedure=Procedure.objects.get(code="record"),
            start=at_jst(MONDAY, 10, 0),
            contact=person,
            answers=record_answers,
            now=centre.now,
        )
    # The same procedure elsewhere is what the wait was for: that booking is not refused.
    made = services.booking_create(
        venue=other,
        procedure=erase(),
        start=at_jst(MONDAY, 10, 0),
        contact=person,
        answers={},
        now=centre.now,
    )
    assert made.booking.status == Booking.Status.CONFIRMED


def test_a_range_nothing_of_which_can_still_be_booked_online_is_refused(centre, travel):
    late = travel(2026, 12, 13, 17, 0)  # Monday's cut-off: 17:00 on Sunday
    with pytest.raises(InvalidRange):
        join(centre, 1, now=late)
    with pytest.raises(InvalidRange):
        join(centre, 1, first=MONDAY + timedelta(days=60))  # past the horizon


# --- Offers ------------------------------------------------------------------------------------------


def test_a_cancel_offers_the_seat_to_the_first_in_line_as_a_hold_and_emails_a_link(
    centre, django_capture_on_commit_callbacks
):
    first, second = join(centre, 1), join(centre, 2)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.booking_cancel(booking=centre.booked[0].booking, now=centre.now)
    assert (state_of(first), state_of(second)) == (State.OFFERED, State.WAITING)
    hold = Hold.objects.get(waitlist_entry=first.entry)
    assert hold.state == Hold.State.LIVE and hold.start == at_jst(MONDAY, 10)
    assert hold.expires_at == centre.now + timedelta(minutes=30)
    assert Slot.objects.get(start=at_jst(MONDAY, 10)).taken == 1  # kept: nobody else can take it
    offers = [m for m in mail.outbox if m.to == ["wait1@example.jp"]]
    assert len(offers) == 1 and "12月14日" in offers[0].body
    link = re.search(r"http\S+/waitlist/(\S+)/", offers[0].body)
    assert link and link.group(1) == offer_secret_for(first.entry.secret_hash)
    assert Notification.objects.get(waitlist_entry=first.entry).token_sealed == ""  # nothing stored
    assert seat_mismatches() == []


def test_accepting_the_offer_books_that_seat_once_even_tapped_twice(centre):
    first = join(centre, 1)
    services.booking_cancel(booking=centre.booked[0].booking, now=centre.now)
    assert run_pass(centre).offered == 1
    created = waitlist.waitlist_accept(secret=first.secret, now=centre.now)
    again = waitlist.waitlist_accept(secret=offer_secret_for(first.entry.secret_hash), now=centre.now)
    booking = created.booking
    assert again.booking == booking and again.token == created.token
    assert (booking.start, booking.phone, booking.status) == (at_jst(MONDAY, 10), "08000000001", "confirmed")
    assert state_of(first) == State.BOOKED
    assert Hold.objects.get(waitlist_entry=first.entry).state == Hold.State.USED
    assert Slot.objects.get(start=at_jst(MONDAY, 10)).taken == 1
    assert seat_mismatches() == []


def test_an_offer_not_confirmed_in_time_passes_to_the_next_in_line(centre):
    first, second = join(centre, 1), join(centre, 2)
    services.booking_cancel(booking=centre.booked[0].booking, now=centre.now)
    run_pass(centre)
    later = centre.now + timedelta(minutes=31)
    report = run_pass(centre, now=later)
    assert (report.passed, report.offered) == (1, 1)
    assert (state_of(first), state_of(second)) == (State.PASSED, State.OFFERED)
    with pytest.raises(NoOffer):
        waitlist.waitlist_accept(secret=first.secret, now=later)
    assert Slot.objects.get(start=at_jst(MONDAY, 10)).taken == 1
    assert seat_mismatches() == []


def test_seats_go_first_come_first_served_one_offer_each(centre):
    entries = [join(centre, n) for n in range(1, 5)]
    for booked in centre.booked:
        services.booking_cancel(booking=booked.booking, now=centre.now)
    assert run_pass(centre).offered == 2
    assert run_pass(centre).offered == 0  # running again offers nothing twice
    assert [state_of(e) for e in entries] == [State.OFFERED, State.OFFERED, State.WAITING, State.WAITING]
    assert Hold.objects.filter(state="live").count() == 2
    assert seat_mismatches() == []


def test_an_entry_is_offered_only_a_seat_on_a_day_of_its_range(centre):
    monday = join(centre, 1)
    assert run_pass(centre).offered == 0  # Tuesday's seats are free, but Monday's are not
    assert state_of(monday) == State.WAITING
    assert Hold.objects.count() == 0


def test_an_offer_never_runs_past_the_cut_off_and_late_seats_stay_free_for_everybody(centre, travel):
    first = join(centre, 1)
    near = travel(2026, 12, 13, 16, 50)  # ten minutes before Monday's cut-off
    services.booking_cancel(booking=centre.booked[0].booking, now=near)
    run_pass(centre, now=near)
    hold = Hold.objects.get(waitlist_entry=first.entry)
    assert hold.expires_at == at_jst(date(2026, 12, 13), 17)
    second = join(centre, 2, now=near)
    almost = travel(2026, 12, 13, 16, 57)
    services.booking_cancel(booking=centre.booked[1].booking, now=almost)
    assert run_pass(centre, now=almost).offered == 0  # 3 minutes left: not kept for anyone
    assert state_of(second) == State.WAITING
    cut = at_jst(date(2026, 12, 13), 17)
    report = run_pass(centre, now=cut)
    assert report.passed == 1 and report.expired == 1  # the offer ended, and Monday is over for both
    assert Slot.objects.get(start=at_jst(MONDAY, 10)).taken == 0  # free for staff and walk-ins


def test_leaving_frees_an_offered_seat_for_the_next_in_line(centre, django_capture_on_commit_callbacks):
    first, second = join(centre, 1), join(centre, 2)
    services.booking_cancel(booking=centre.booked[0].booking, now=centre.now)
    run_pass(centre)
    with django_capture_on_commit_callbacks(execute=True):
        waitlist.waitlist_leave(secret=first.secret, now=centre.now)
    assert (state_of(first), state_of(second)) == (State.CANCELLED, State.OFFERED)
    with pytest.raises(NotFound):
        waitlist.waitlist_leave(secret=first.secret, now=centre.now)
    assert seat_mismatches() == []


def test_new_counters_wake_the_waiting_list(centre, django_capture_on_commit_callbacks):
    first = join(centre, 1)
    window = centre.windows.get()
    window.counters = 2
    window.save()
    with django_capture_on_commit_callbacks(execute=True):
        slots_generate(now=centre.now, venues=[centre], days=20)
    assert state_of(first) == State.OFFERED


def test_personal_data_of_ended_entries_goes_by_the_retention_rule(centre):
    first, second = join(centre, 1), join(centre, 2)
    waitlist.waitlist_leave(secret=first.secret, now=centre.now)
    before = at_jst(MONDAY + timedelta(days=1))
    assert retention.waitlist_personal_data_erase(before=before, now=centre.now) == 1
    erased = WaitlistEntry.objects.get(pk=first.entry.pk)
    assert (erased.name, erased.phone, erased.email, erased.erased_at) == ("", "", "", centre.now)
    assert WaitlistEntry.objects.get(pk=second.entry.pk).name == "待つ人2"  # still in line: kept


def test_the_offer_message_is_skipped_once_the_offer_is_over(centre):
    first = join(centre, 1)
    services.booking_cancel(booking=centre.booked[0].booking, now=centre.now)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(notifications, "wake", lambda pk: None)
        run_pass(centre)
    row = Notification.objects.get(waitlist_entry=first.entry)
    waitlist.waitlist_leave(secret=first.secret, now=centre.now)
    assert notifications.deliver(notification_id=row.pk, now=centre.now).state == "skipped"


# --- API ----------------------------------------------------------------------------------------------


def api_join(**extra):
    body = {"venue": "wait-centre", "procedure": "erase", "first_day": "2026-12-14", "name": "待つ人"}
    body.update(extra)
    return APIClient().post("/api/v1/waitlist/", {"email": "api@example.jp", **body}, format="json")


def test_the_api_joins_shows_accepts_and_leaves(centre):
    joined = api_join()
    assert joined.status_code == 201, joined.json()
    body = joined.json()
    assert (body["state"], body["position"], body["offer"]) == ("waiting", 1, None)
    secret = body["secret"]
    services.booking_cancel(booking=centre.booked[1].booking, now=centre.now)
    run_pass(centre)
    shown = APIClient().get(f"/api/v1/waitlist/{secret}/").json()
    assert shown["state"] == "offered" and shown["offer"]["start"] == "2026-12-14T10:10:00+09:00"
    accepted = APIClient().post(f"/api/v1/waitlist/{secret}/accept/")
    assert accepted.status_code == 201 and accepted.json()["token"]
    assert Booking.objects.get(reference=accepted.json()["reference"]).email == "api@example.jp"
    assert APIClient().delete(f"/api/v1/waitlist/{secret}/").status_code == 404  # booked: not waiting


def test_the_api_answers_each_refusal_with_its_code(centre):
    assert api_join(first_day="2026-12-15").json()["code"] == "seats_free"
    assert api_join(first_day="2026-12-14", last_day="2026-12-13").json()["code"] == "invalid_range"
    assert api_join(first_day="14/12/2026").json()["code"] == "invalid"
    assert api_join(days=0).status_code == 400
    assert api_join(email="", phone="090-1234-5678").json()["fields"].keys() == {"email"}
    fixed_line = api_join(email="", phone="026-234-5678", sms_opt_in=True)  # no SMS would ever reach it
    assert (fixed_line.status_code, fixed_line.json()["fields"].keys()) == (400, {"sms_opt_in"})
    assert api_join(email="", phone="090-1234-5678", sms_opt_in=True).status_code == 201
    assert api_join().status_code == 201
    assert api_join().json()["code"] == "already_waiting"
    secret = "x" * 43
    assert APIClient().delete(f"/api/v1/waitlist/{secret}/").status_code == 404
    assert APIClient().post(f"/api/v1/waitlist/{secret}/accept/").json()["code"] == "not_found"


def test_the_api_says_no_offer_before_a_seat_is_free(centre):
    secret = api_join().json()["secret"]
    answer = APIClient().post(f"/api/v1/waitlist/{secret}/accept/")
    assert (answer.status_code, answer.json()["code"]) == (409, "no_offer")
    assert APIClient().delete(f"/api/v1/waitlist/{secret}/").status_code == 204


# --- Races on PostgreSQL ----------------------------------------------------------------------------

ON_POSTGRES = __import__("django.conf").conf.settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


@pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL: DATABASE_URL is not a PostgreSQL database")
@pytest.mark.xdist_group("pg-race")
@pytest.mark.django_db(transaction=True)
def test_20_seats_freed_at_once_among_100_waiting_go_to_the_first_20_once_each(travel):
    from tests.test_booking_concurrency import race

    place = builders.venue(code="race-wait", procedures=("erase",), windows=(("10:00", "11:40"),), counters=2)
    now = travel(2026, 12, 1, 9, 0)
    slots_generate(now=now, venues=[place], days=13)
    place.now = now
    monday = list(Slot.objects.filter(date=MONDAY).order_by("start"))  # 10 slots of 2 seats
    booked = [
        book(place, slot.start, f"0903{i:03d}{seat:04d}") for i, slot in enumerate(monday) for seat in (0, 1)
    ]
    entries = [join(place, n) for n in range(1, 101)]

    def cancel(index: int) -> str:
        services.booking_cancel(booking=booked[index].booking, now=now)  # each wakes a pass at commit
        return "cancelled"

    assert race(20, cancel) == ["cancelled"] * 20
    # Each cancel's own pass (woken at its commit, in its thread) offered the seats: none is left.
    assert waitlist.waitlist_sweep(now=now).offered == 0
    offered = [e.entry.pk for e in entries if state_of(e) == State.OFFERED]
    assert offered == [e.entry.pk for e in entries[:20]]
    live = Hold.objects.filter(state="live", waitlist_entry__isnull=False)
    assert live.count() == 20 and len({h.waitlist_entry_id for h in live}) == 20
    assert set(Slot.objects.filter(date=MONDAY).values_list("taken", flat=True)) == {2}
    assert seat_mismatches() == []


# --- Pages ---------------------------------------------------------------------------------------


def in_flow(client) -> None:
    session = client.session
    session["book"] = {"procedure": "erase", "answers": {}, "venue": "wait-centre"}
    session.save()


def test_a_full_day_offers_the_waiting_list_and_the_pages_book_the_freed_seat_with_one_tap(centre, client):
    in_flow(client)
    date_page = client.get("/book/date/?day=2026-12-14").content.decode()
    assert "/waitlist/join/?day=2026-12-14" in date_page
    assert "/waitlist/join/" not in client.get("/book/date/?day=2026-12-15").content.decode()
    form = client.get("/waitlist/join/?day=2026-12-14")
    assert form.status_code == 200 and "12月14日だけ" in form.content.decode()
    posted = client.post(
        "/waitlist/join/", {"day": "2026-12-14", "when": "day", "name": "待つ人", "email": "page@example.jp"}
    )
    assert posted.status_code == 302 and posted["Location"] == "/waitlist/joined/"
    done = client.get("/waitlist/joined/").content.decode()
    secret = re.search(r'href="/waitlist/([A-Za-z0-9_-]{43})/"', done).group(1)
    assert "1番目" in done
    assert client.get("/waitlist/joined/").status_code == 302  # the link is shown once

    services.booking_cancel(booking=centre.booked[0].booking, now=centre.now)
    run_pass(centre)
    page = client.get(f"/waitlist/{secret}/")
    assert page.status_code == 200 and 'value="accept"' in page.content.decode()
    assert Booking.objects.filter(email="page@example.jp").count() == 0  # a GET never books
    offer_page = client.get(f"/waitlist/{offer_secret_for(WaitlistEntry.objects.get().secret_hash)}/")
    assert 'value="accept"' in offer_page.content.decode()  # the e-mail's link shows the same offer
    booked = client.post(f"/waitlist/{secret}/", {"action": "accept"})
    assert booked.status_code == 302 and booked["Location"] == "/book/done/"
    booking = Booking.objects.get(email="page@example.jp")
    assert (
        booking.start == at_jst(MONDAY, 10)
        and booking.reference in client.get("/book/done/").content.decode()
    )


def test_the_join_page_needs_an_email_and_says_when_a_seat_is_free(centre, client):
    in_flow(client)
    no_email = client.post(
        "/waitlist/join/", {"day": "2026-12-14", "when": "day", "name": "待つ人", "phone": "090-1234-5678"}
    )
    assert no_email.status_code == 200 and WaitlistEntry.objects.count() == 0
    free = client.post(
        "/waitlist/join/", {"day": "2026-12-15", "when": "day", "name": "待つ人", "email": "p@example.jp"}
    )
    assert free.status_code == 409 and "/book/date/" in free.content.decode()


def test_leaving_from_the_page_ends_the_entry(centre, client):
    joined = join(centre, 1)
    left = client.post(f"/waitlist/{joined.secret}/", {"action": "leave"})
    assert left.status_code == 302 and state_of(joined) == State.CANCELLED
    assert "取りやめました" in client.get(f"/waitlist/{joined.secret}/").content.decode()
    assert client.get(f"/waitlist/{'y' * 43}/").status_code == 404


def test_staff_see_the_waiting_list_of_their_venues_without_secrets(centre, admin_client):
    joined = join(centre, 1)
    page = admin_client.get("/admin/bookings/waitlistentry/?day=2026-12-14").content.decode()
    assert "待つ人1" in page and joined.secret not in page and joined.entry.secret_hash not in page
    assert "待つ人1" not in admin_client.get("/admin/bookings/waitlistentry/?day=2026-12-15").content.decode()
