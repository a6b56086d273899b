"""Calling residents to a counter and the waiting room's display (issue 14, part 2): the order of
呼出, two clerks never calling the same person, 再呼出 and 不在, today only, the waiting time, the
day page's one-click buttons and the counter kept in the session, and the display's secret link
(wrong key: the 404 page; renewing ends the old link; references and counters, never a name)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse

from bookings import calls, queue
from bookings.models import Booking, Call
from scheduler.clock import at_jst
from scheduler.errors import (
    CallNotToday,
    InvalidCounter,
    NotCalled,
    NotCheckedIn,
    NothingWaiting,
)
from scheduler.logs import strip_query_strings
from tests import builders
from tests.admin_setup import MONDAY, TUESDAY, book, generate, staff_user
from tests.test_booking_concurrency import ON_POSTGRES, race
from venues import display
from venues.models import AuditEntry, Venue

pytestmark = pytest.mark.django_db

CODE = "calls-centre"


def at(hour: int, minute: int):
    return at_jst(TUESDAY, hour, minute)


@pytest.fixture
def centre(travel):
    """A centre with three counters on Tuesday 10:00–12:00, five residents booked."""
    builders.venue(code=CODE, windows=(("10:00", "12:00"),), counters=3)
    generate(CODE)
    people = {
        "a": book(CODE, TUESDAY, 10, 0, name="青木 一郎"),
        "b": book(CODE, TUESDAY, 10, 0, name="馬場 二郎"),
        "c": book(CODE, TUESDAY, 10, 10, name="千葉 三郎"),
        "d": book(CODE, TUESDAY, 10, 20, name="土屋 四郎"),
        "e": book(CODE, TUESDAY, 11, 0, name="江藤 五郎"),
    }
    travel(2026, 12, 15, 9, 50)
    return people


def check_in(booking: Booking, hour: int, minute: int) -> None:
    queue.booking_transition(booking=booking, action="check_in", now=at(hour, minute), actor=None)


def venue() -> Venue:
    return Venue.objects.get(code=CODE)


# --- The services ---------------------------------------------------------------------------------


def test_the_next_call_goes_by_booked_time_then_by_check_in_time(centre):
    a, b, c, d = centre["a"], centre["b"], centre["c"], centre["d"]
    check_in(d, 9, 40)  # early for 10:20: still after the 10:00 and 10:10 residents
    check_in(c, 9, 45)
    check_in(b, 9, 50)  # of the two 10:00 residents, b came first
    check_in(a, 9, 55)
    called = [calls.call_next(venue=venue(), counter=1, now=at(10, n), actor=None) for n in range(4)]
    assert [call.booking.reference for call in called] == [b.reference, a.reference, c.reference, d.reference]
    assert all(call.kind == Call.Kind.CALL and call.counter == 1 for call in called)
    with pytest.raises(NothingWaiting):
        calls.call_next(venue=venue(), counter=1, now=at(10, 5), actor=None)


def test_a_resident_not_checked_in_is_neither_called_next_nor_callable(centre):
    with pytest.raises(NothingWaiting):
        calls.call_next(venue=venue(), counter=1, now=at(10, 0), actor=None)
    with pytest.raises(NotCheckedIn):
        calls.call_booking(booking=centre["a"], counter=1, now=at(10, 0), actor=None)
    assert not Call.objects.exists()


def test_calls_are_for_todays_bookings_only(centre):
    a = centre["a"]
    check_in(a, 9, 50)
    with pytest.raises(CallNotToday):
        calls.call_booking(booking=a, counter=1, now=at(10, 0) + timedelta(days=1), actor=None)
    with pytest.raises(NothingWaiting):  # the day after: Tuesday's residents are not "next"
        calls.call_next(venue=venue(), counter=1, now=at(10, 0) + timedelta(days=1), actor=None)
    assert not Call.objects.exists()


def test_a_counter_outside_the_venues_counters_is_refused(centre):
    check_in(centre["a"], 9, 50)
    for counter in (0, 4, "x"):
        with pytest.raises(InvalidCounter):
            calls.call_next(venue=venue(), counter=counter, now=at(10, 0), actor=None)
    assert calls.call_next(venue=venue(), counter=3, now=at(10, 0), actor=None).counter == 3


def test_recall_keeps_the_counter_and_not_here_takes_the_line_off_the_display(centre):
    a, b = centre["a"], centre["b"]
    check_in(a, 9, 50)
    check_in(b, 9, 51)
    with pytest.raises(NotCalled):
        calls.recall(booking=a, now=at(10, 0), actor=None)
    with pytest.raises(NotCalled):
        calls.not_here(booking=a, now=at(10, 0), actor=None)
    calls.call_booking(booking=a, counter=2, now=at(10, 0), actor=None)
    calls.call_booking(booking=b, counter=3, now=at(10, 1), actor=None)
    again = calls.recall(booking=a, now=at(10, 2), actor=None)
    assert (again.kind, again.counter) == (Call.Kind.RECALL, 2)
    shown = calls.display_calls(venue=venue(), now=at(10, 2))
    assert [(s.reference, s.counter) for s in shown] == [(a.reference, 2), (b.reference, 3)]  # a on top again

    calls.not_here(booking=a, now=at(10, 4), actor=None)
    assert [s.reference for s in calls.display_calls(venue=venue(), now=at(10, 4))] == [b.reference]
    a.refresh_from_db()
    assert a.status == Booking.Status.CHECKED_IN  # still here as far as the queue goes
    with pytest.raises(NothingWaiting):  # not offered by 呼出 again…
        calls.call_next(venue=venue(), counter=1, now=at(10, 5), actor=None)
    back = calls.call_booking(booking=a, counter=1, now=at(10, 8), actor=None)  # …but called by the row
    assert back.counter == 1
    assert calls.display_calls(venue=venue(), now=at(10, 8))[0].reference == a.reference


def test_the_display_shows_the_last_six_people_called_today(centre, travel):
    builders.window(venue(), "13:00", "14:00", counters=3)
    generate(CODE)
    more = [book(CODE, TUESDAY, 13, 0 if n < 3 else 10, name=f"追加 {n}") for n in range(6)]
    people = list(centre.values()) + more
    for index, booking in enumerate(people):
        check_in(booking, 9, 10 + index)
    for index in range(len(people)):
        calls.call_next(venue=venue(), counter=1 + index % 3, now=at(10, index), actor=None)
    shown = calls.display_calls(venue=venue(), now=at(10, 30))
    assert len(shown) == 6
    assert [s.at for s in shown] == sorted((s.at for s in shown), reverse=True)
    assert calls.display_calls(venue=venue(), now=at(10, 30) + timedelta(days=1)) == []


def test_the_waiting_time_runs_from_check_in_to_the_first_call_and_service_from_start_to_done(centre):
    a = centre["a"]
    check_in(a, 9, 48)
    assert calls.wait_of(a) is None
    calls.call_next(venue=venue(), counter=1, now=at(10, 1), actor=None)
    calls.recall(booking=a, now=at(10, 3), actor=None)  # a recall does not lengthen the wait
    assert calls.wait_of(a) == timedelta(minutes=13)
    queue.booking_transition(booking=a, action="start", now=at(10, 4), actor=None)
    queue.booking_transition(booking=a, action="done", now=at(10, 16), actor=None)
    events = {e.to_status: e.at for e in a.events.all()}
    assert events[Booking.Status.DONE] - events[Booking.Status.IN_SERVICE] == timedelta(minutes=12)
    with pytest.raises(NotCheckedIn):  # once at the counter, no more calls
        calls.recall(booking=a, now=at(10, 17), actor=None)


# --- Two clerks at once (PostgreSQL) --------------------------------------------------------------


@pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL: DATABASE_URL is not a PostgreSQL database")
@pytest.mark.django_db(transaction=True)
@pytest.mark.xdist_group("pg-race")
def test_clerks_pressing_call_at_the_same_moment_never_get_the_same_resident(travel):
    builders.venue(code=CODE, windows=(("10:00", "12:00"),), counters=6)
    generate(CODE)
    people = [book(CODE, TUESDAY, 10, 10 * (n // 2), name=f"同時 {n}") for n in range(8)]
    travel(2026, 12, 15, 9, 50)
    for index, booking in enumerate(people):
        check_in(booking, 9, 10 + index)
    place = venue()
    for minute in range(3):  # a few rounds: the threads meet at different rows each time
        moment = at(10, minute)
        results = race(
            6, lambda i, moment=moment: calls.call_next(venue=place, counter=1 + i, now=moment, actor=None)
        )
        errors = [r for r in results if isinstance(r, Exception)]
        assert all(isinstance(e, NothingWaiting) for e in errors), errors
    booked = Call.objects.values_list("booking_id", flat=True)
    assert len(booked) == len(set(booked)) == 8  # everyone called once, nobody twice
    assert Call.objects.filter(kind=Call.Kind.CALL).count() == 8


# --- The day page -------------------------------------------------------------------------------


@pytest.fixture
def clerk(client: Client, centre) -> Client:
    client.force_login(staff_user("calls-clerk", CODE))
    return client


def day_url() -> str:
    return f"{reverse('admin:bookings_booking_day')}?venue={CODE}"


def test_the_clerk_picks_a_counter_once_and_calls_with_one_click(clerk, centre):
    a, b = centre["a"], centre["b"]
    check_in(a, 9, 40)
    check_in(b, 9, 45)
    page = clerk.get(day_url()).content.decode()
    assert "呼出（次の方）" in page and "はじめに窓口番号を選んでください" in page
    refused = clerk.post(
        reverse("admin:bookings_booking_call_next"), {"venue": CODE, "next": day_url()}, follow=True
    )
    assert "先に窓口番号を選んでください。" in refused.content.decode()
    assert not Call.objects.exists()

    assert (
        clerk.post(reverse("admin:bookings_booking_counter"), {"venue": CODE, "counter": "9"}).status_code
        == 302
    )
    assert "窓口番号が正しくありません（1〜3）。" in clerk.get(day_url()).content.decode()
    clerk.post(reverse("admin:bookings_booking_counter"), {"venue": CODE, "counter": "2", "next": day_url()})
    response = clerk.post(reverse("admin:bookings_booking_call_next"), {"venue": CODE, "next": day_url()})
    assert response.status_code == 302 and f"hl={a.reference}" in response["Location"]
    page = clerk.get(response["Location"]).content.decode()
    assert f"{a.reference} 青木 一郎 さんを 2番窓口へ呼出しました。" in page
    row = re.search(rf'<tr id="b-{a.reference}".*?</tr>', page, re.S).group()
    assert "呼出済 2番 09:50" in row and 'value="recall"' in row and 'value="not_here"' in row
    other = re.search(rf'<tr id="b-{b.reference}".*?</tr>', page, re.S).group()
    assert 'value="call"' in other and "呼出済" not in other

    call_url = reverse("admin:bookings_booking_call", args=[a.pk])
    clerk.post(call_url, {"action": "recall", "next": day_url()})
    clerk.post(call_url, {"action": "not_here", "next": day_url()})
    assert list(Call.objects.filter(booking=a).values_list("kind", "counter")) == [
        ("call", 2),
        ("recall", 2),
        ("not_here", 2),
    ]
    row = re.search(rf'<tr id="b-{a.reference}".*?</tr>', clerk.get(day_url()).content.decode(), re.S).group()
    assert "不在 09:50" in row and 'value="call"' in row
    assert Call.objects.filter(booking=a).last().actor.username == "calls-clerk"


def test_a_refused_call_is_a_message_not_an_error_page(clerk, centre):
    a = centre["a"]  # not checked in
    clerk.post(reverse("admin:bookings_booking_counter"), {"venue": CODE, "counter": "1"})
    page = clerk.post(
        reverse("admin:bookings_booking_call", args=[a.pk]),
        {"action": "call", "next": day_url()},
        follow=True,
    ).content.decode()
    assert "呼び出せるのは受付済みの方だけです。" in page
    page = clerk.post(
        reverse("admin:bookings_booking_call_next"), {"venue": CODE, "next": day_url()}, follow=True
    ).content.decode()
    assert "呼び出せる方（受付済みで、まだ呼び出していない方）がいません。" in page


def test_calls_need_a_get_free_post_and_the_clerks_own_venue(client, centre, nagano):
    check_in(centre["a"], 9, 40)
    client.force_login(staff_user("iida-clerk", "iida-station"))
    call_url = reverse("admin:bookings_booking_call", args=[centre["a"].pk])
    assert client.post(call_url, {"action": "recall"}).status_code == 404  # not their venue
    assert client.post(reverse("admin:bookings_booking_call_next"), {"venue": CODE}).status_code == 404
    assert client.get(call_url).status_code == 405
    assert not Call.objects.exists()


def test_other_days_show_no_call_buttons(clerk, centre):
    page = clerk.get(f"{day_url()}&date={MONDAY.isoformat()}").content.decode()
    assert "呼出（次の方）" not in page


# --- The display ----------------------------------------------------------------------------------


def display_url(key: str | None, code: str = CODE, part: str = "display") -> str:
    path = reverse(f"web:{part}", args=[code])
    return f"{path}?k={key}" if key is not None else path


@pytest.fixture
def key(centre) -> str:
    return display.display_secret_renew(venue=venue(), now=at(8, 0), actor=None)


def test_the_display_needs_the_venues_current_key(client, centre, key):
    assert client.get(display_url(key)).status_code == 200
    for wrong in (None, "", key[:-1] + ("A" if key[-1] != "A" else "B"), "x" * 500):
        for part in ("display", "display-calls"):
            response = client.get(display_url(wrong, part=part))
            assert response.status_code == 404
            assert "ページが見つかりません" in response.content.decode()  # the product's 404 page
    assert client.get(display_url(key, code="no-such-venue")).status_code == 404
    never_issued = builders.venue(code="no-link-venue")
    assert client.get(display_url("", code=never_issued.code)).status_code == 404
    assert client.post(display_url(key)).status_code == 405


def test_only_the_keys_hash_is_stored_and_the_link_stays_out_of_the_logs(centre, key):
    place = venue()
    assert place.display_secret_hash == display.key_hash(key) and key not in place.display_secret_hash
    assert not any(key in str(entry.after) + str(entry.before) for entry in AuditEntry.objects.all())
    line = f'"GET {display_url(key, part="display-calls")} HTTP/1.1" 200'
    assert key not in strip_query_strings(line)


def test_the_display_shows_references_and_counters_never_names(client, centre, key):
    a, b = centre["a"], centre["b"]
    check_in(a, 9, 40)
    check_in(b, 9, 41)
    calls.call_booking(booking=a, counter=2, now=at(9, 45), actor=None)
    calls.call_booking(booking=b, counter=3, now=at(9, 46), actor=None)
    page = client.get(display_url(key))
    html = page.content.decode()
    assert a.reference in html and b.reference in html and "3</b>番窓口" in html
    assert page["Cache-Control"] == "no-store" and page["Referrer-Policy"] == "no-referrer"
    assert "script-src 'self'" in page["Content-Security-Policy"]
    data = client.get(display_url(key, part="display-calls")).json()
    assert [(c["reference"], c["counter"]) for c in data["calls"]] == [(b.reference, 3), (a.reference, 2)]
    everything = html + str(data)
    for person in (a, b):
        assert person.name not in everything and person.name.split()[0] not in everything
        assert person.phone not in everything


def test_the_poll_answers_not_modified_until_someone_is_called(client, centre, key):
    check_in(centre["a"], 9, 40)
    first = client.get(display_url(key, part="display-calls"))
    etag = first["ETag"]
    assert first.json() == {"version": 0, "calls": []}
    unchanged = client.get(display_url(key, part="display-calls"), headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    calls.call_next(venue=venue(), counter=1, now=at(9, 50), actor=None)
    changed = client.get(display_url(key, part="display-calls"), headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert changed.json()["calls"][0]["reference"] == centre["a"].reference


def admin_user(username: str, *, prefecture: bool) -> Client:
    """A logged-in client: a prefecture administrator, or the venue's clerk."""
    Group.objects.get_or_create(name="県管理者")
    staff = Group.objects.get(name="会場職員")
    staff.permissions.add(Permission.objects.get(codename="view_venue"))
    user = staff_user(username, CODE, admin=prefecture)
    client = Client()
    client.force_login(user)
    return client


def renew(client: Client) -> object:
    return client.post(
        reverse("admin:venues_venue_changelist"),
        {"action": "display_link_renew", "_selected_action": [venue().pk]},
    )


def test_an_administrator_renews_the_link_and_the_old_one_stops_working(client, centre, key):
    page = renew(admin_user("pref-admin", prefecture=True))
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    link = re.search(r'value="(https?://[^"]+/display/calls-centre/\?k=([^"]+))"', page.content.decode())
    new_key = link.group(2)
    assert new_key != key
    assert client.get(display_url(key)).status_code == 404
    assert client.get(display_url(new_key)).status_code == 200
    entry = AuditEntry.objects.filter(action="display_link_renew").latest("id")
    assert entry.actor.username == "pref-admin" and new_key not in str(entry.after)


def test_a_venue_clerk_cannot_renew_the_link(centre, key):
    clerk = admin_user("calls-clerk-2", prefecture=False)
    changelist = clerk.get(reverse("admin:venues_venue_changelist"))
    assert changelist.status_code == 200 and "display_link_renew" not in changelist.content.decode()
    renew(clerk)
    venue_now = venue()
    assert venue_now.display_secret_hash == display.key_hash(key)  # unchanged: the old link still works
