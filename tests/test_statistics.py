"""Statistics for administrators (issue 14, part 3): the figures of a small December at a centre
(bookings by channel, cancellations by kind, no-show rate, seat use, lead time, waiting and service
times from the events and calls), a clerk limited to their venues, the prefecture's ranking, the
CSV with the page's numbers, bad input answered with a message, and the same number of queries
for a day, a month and a year."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from bookings import queue, services, statistics
from bookings.models import Booking, Call
from scheduler.clock import at_jst
from tests import builders
from tests.admin_setup import MONDAY, TUESDAY, WEDNESDAY, book, generate, staff_user
from venues.models import Procedure, Venue

pytestmark = pytest.mark.django_db

CODE = "stats-centre"
OTHER = "stats-station"
URL = "/admin/bookings/booking/statistics/"
DECEMBER = {"from": "2026-12-01", "to": "2026-12-31"}


def at(day: date, hour: int, minute: int):
    return at_jst(day, hour, minute)


def step(booking: Booking, action: str, hour: int, minute: int, day: date = TUESDAY) -> None:
    queue.booking_transition(booking=booking, action=action, now=at(day, hour, minute), actor=None)


def call(booking: Booking, hour: int, minute: int, kind: str = Call.Kind.CALL) -> None:
    Call.objects.create(
        booking=booking, venue=booking.venue, counter=1, kind=kind, at=at(TUESDAY, hour, minute)
    )


@pytest.fixture
def december(travel):
    """A centre with two counters, 10:00–11:00 on weekdays (slots from Monday 14 December for ten
    days: 9 days × 6 slots × 2 seats = 108 seats), and eight bookings with known times."""
    builders.venue(code=CODE, windows=(("10:00", "11:00"),), counters=2)
    builders.venue(code=OTHER, windows=(("10:00", "11:00"),), counters=1)
    generate(CODE, OTHER)
    centre = Venue.objects.get(code=CODE)
    record = Procedure.objects.get(code="record")
    made = at(MONDAY, 10, 0)
    people = {
        "a": book(CODE, TUESDAY, 10, 0, now=made),  # made 24 h before
        "b": book(CODE, TUESDAY, 10, 10, now=made),
        "e": book(CODE, TUESDAY, 10, 40, now=made),  # will not come
        "f": book(CODE, TUESDAY, 10, 50, now=made),  # cancels
        "g": book(CODE, WEDNESDAY, 10, 0, now=made),  # the venue cancels
        "h": book(CODE, WEDNESDAY, 10, 10, now=made),  # still to come
        "o": book(OTHER, TUESDAY, 10, 0, now=made),  # another venue
    }
    people["c"] = services.booking_create_by_staff(
        venue=centre,
        procedure=record,
        start=at(TUESDAY, 10, 20),
        name="職員 予約",
        phone="026-234-5678",
        channel=Booking.Channel.STAFF,
        now=at(MONDAY, 12, 0),
        actor=None,
    ).booking
    people["d"] = services.booking_create_by_staff(
        venue=centre,
        procedure=record,
        start=at(TUESDAY, 10, 30),
        name="当日 受付",
        channel=Booking.Channel.WALK_IN,
        now=at(TUESDAY, 10, 25),
        actor=None,
    ).booking
    a, b, c, d, e = (people[k] for k in "abcde")
    # a: check-in 9:55, called 10:05, at the counter 10:06, done 10:16 → waits 10, served 10
    step(a, "check_in", 9, 55)
    call(a, 10, 5)
    step(a, "start", 10, 6)
    step(a, "done", 10, 16)
    # b: no call (before the display): check-in 10:00 → counter 10:20 → done 10:24 → 20, 4
    step(b, "check_in", 10, 0)
    step(b, "start", 10, 20)
    step(b, "done", 10, 24)
    # c: check-in 10:15, called 10:45 (and again 10:50), counter 10:46, done 11:16 → 30, 30
    step(c, "check_in", 10, 15)
    call(c, 10, 45)
    call(c, 10, 50, Call.Kind.RECALL)
    step(c, "start", 10, 46)
    step(c, "done", 11, 16)
    # d (walk-in): check-in 10:25, called 10:26, counter 10:27, done 10:35 → 1, 8
    step(d, "check_in", 10, 25)
    call(d, 10, 26)
    step(d, "start", 10, 27)
    step(d, "done", 10, 35)
    step(e, "no_show", 11, 30)
    services.booking_cancel(booking=people["f"], now=at(MONDAY, 15, 0))
    services.booking_cancel_by_venue(booking=people["g"], now=at(MONDAY, 16, 0), actor=None, note="closure")
    now = travel(2026, 12, 15, 12, 0)
    return people, now


def figures_of(now, **kwargs):
    return statistics.statistics_for(
        venues=[Venue.objects.get(code=CODE)],
        first=date(2026, 12, 1),
        last=date(2026, 12, 31),
        now=now,
        **{"period": "day", **kwargs},
    )


# --- The figures --------------------------------------------------------------------------------


def test_bookings_are_counted_by_channel_and_cancellations_by_who_cancelled(december):
    _people, now = december
    totals = figures_of(now).totals
    assert (totals.bookings, totals.online, totals.staff, totals.walk_in) == (8, 6, 1, 1)
    assert (totals.cancelled_by_resident, totals.cancelled_by_venue, totals.kept) == (1, 1, 6)


def test_the_no_show_rate_is_of_the_visits_that_were_due(december):
    _people, now = december
    totals = figures_of(now).totals
    # due: the four who came and the one who did not; Wednesday's booking is still to come
    assert (totals.due, totals.came, totals.no_shows) == (5, 4, 1)
    assert totals.no_show_rate == pytest.approx(0.2)


def test_seat_use_is_the_seats_of_bookings_kept_over_the_seats_offered(december):
    _people, now = december
    totals = figures_of(now).totals
    assert (totals.seats_used, totals.seats_offered) == (6, 9 * 6 * 2)
    assert totals.seat_use == pytest.approx(6 / 108)
    tuesday = next(row for row in figures_of(now).rows if row.first == TUESDAY).figures
    assert (tuesday.seats_used, tuesday.seats_offered) == (5, 12)


def test_lead_time_runs_from_the_booking_to_the_visit(december):
    _people, now = december
    lead = figures_of(now).totals.lead_hours
    # a 24, b 24⅙, c 22⅓, d 1/12, e 24⅔, h 48⅙ hours (f and g were cancelled)
    ordered = sorted([24, 24 + 1 / 6, 22 + 1 / 3, 1 / 12, 24 + 2 / 3, 48 + 1 / 6])
    assert lead.count == 6
    assert lead.median == pytest.approx((ordered[2] + ordered[3]) / 2)
    assert lead.p90 == pytest.approx(ordered[4] + 0.5 * (ordered[5] - ordered[4]))


def test_waiting_ends_at_the_first_call_or_else_at_the_counter_and_service_runs_to_done(december):
    _people, now = december
    totals = figures_of(now).totals
    # waits 10, 20 (no call: to the counter), 30 (the recall does not count), 1
    assert totals.waiting_minutes == statistics.Spread(4, pytest.approx(15.0), pytest.approx(27.0))
    # served 10, 4, 30, 8
    assert totals.service_minutes == statistics.Spread(4, pytest.approx(9.0), pytest.approx(24.0))


def test_periods_cut_the_range_into_days_weeks_and_months(december):
    _people, now = december
    days = figures_of(now).rows
    assert len(days) == 31 and days[0].first == date(2026, 12, 1)
    tuesday = next(row for row in days if row.first == TUESDAY).figures
    assert (tuesday.bookings, tuesday.walk_in, tuesday.no_shows, tuesday.cancelled_by_resident) == (
        6,
        1,
        1,
        1,
    )
    weeks = figures_of(now, period="week").rows
    assert [(w.first, w.last) for w in weeks][:2] == [
        (date(2026, 12, 1), date(2026, 12, 6)),
        (date(2026, 12, 7), date(2026, 12, 13)),
    ]
    week = next(w for w in weeks if w.first == MONDAY).figures
    assert (week.bookings, week.seats_offered) == (8, 5 * 12)
    months = figures_of(now, period="month").rows
    assert len(months) == 1 and months[0].figures == figures_of(now).totals


def test_the_busiest_table_counts_visits_by_weekday_and_hour(december):
    _people, now = december
    busiest = figures_of(now).busiest
    ten = busiest.hours.index(10)
    assert busiest.cells[1][ten] == 4  # Tuesday 10時: a, b, c, d (not the no-show, not the cancelled)
    assert busiest.cells[2][ten] == 1  # Wednesday: h
    assert busiest.by_weekday[1] == 4 and sum(busiest.by_hour) == 5


def test_a_procedure_chosen_counts_only_its_bookings(december):
    _people, now = december
    other = builders.procedure("erase")
    assert figures_of(now, procedure=other).totals.bookings == 0
    assert figures_of(now, procedure=Procedure.objects.get(code="record")).totals.bookings == 8


# --- The page -----------------------------------------------------------------------------------


@pytest.fixture
def clerk(client, december):
    client.force_login(staff_user("stats-clerk", CODE))
    return client


@pytest.fixture
def administrator(client, december):
    client.force_login(staff_user("stats-admin", admin=True))
    return client


def test_an_administrator_sees_a_month_of_a_venue_in_charts(administrator):
    response = administrator.get(URL, {"venue": CODE, "month": "2026-12"})
    assert response.status_code == 200
    page = response.content.decode()
    assert (
        page.count('<svg class="st-chart"') == 3 and 'role="img"' in page and '<title id="st-c1-t">' in page
    )
    assert "受付方法ごとの予約数と取消" in page and "混み合う曜日と時間" in page
    assert "<script" not in page.split("</head>")[1]  # no script in the page's body
    totals = response.context["totals"]
    assert totals[0] == "合計" and totals[1] == "8"
    assert "2026-12-15（火）" in page


def test_the_default_is_the_current_month_by_day(administrator):
    response = administrator.get(URL, {"venue": CODE})
    stats = response.context["stats"]
    assert (stats.first, stats.last, stats.period) == (date(2026, 12, 1), date(2026, 12, 31), "day")


def test_a_clerk_sees_only_their_venues(clerk):
    response = clerk.get(URL, DECEMBER)
    assert response.status_code == 200
    stats = response.context["stats"]
    assert [v.code for v in stats.venues] == [CODE]
    assert stats.totals.bookings == 8  # not the other venue's booking
    assert stats.ranking == [] and "会場の順位" not in response.content.decode()
    assert clerk.get(URL, {**DECEMBER, "venue": OTHER}).status_code == 404
    assert clerk.get(URL, {**DECEMBER, "venue": OTHER, "format": "csv"}).status_code == 404


def test_an_administrator_sees_the_prefecture_with_a_venue_ranking(administrator):
    response = administrator.get(URL, DECEMBER)
    stats = response.context["stats"]
    assert stats.totals.bookings == 9
    assert [(row.venue.code, row.figures.kept) for row in stats.ranking[:2]] == [(CODE, 6), (OTHER, 1)]
    assert "会場の順位" in response.content.decode()


def csv_of(response) -> list[list[str]]:
    assert response["Content-Type"].startswith("text/csv")
    body = response.content.decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


def test_the_csv_has_the_same_figures_as_the_page(administrator):
    page = administrator.get(URL, {**DECEMBER, "venue": CODE, "period": "week"}).context
    rows = csv_of(administrator.get(URL, {**DECEMBER, "venue": CODE, "period": "week", "format": "csv"}))
    header = rows.index(["期間", *page["columns"]])
    table = rows[header + 1 : header + 1 + len(page["rows"])]
    assert table == page["rows"]
    assert table[-1][:2] == ["合計", "8"]
    heat = rows.index(["曜日＼時", *(f"{h}時" for h in page["hours"]), "計"])
    assert rows[heat + 2][0] == "火" and rows[heat + 2][-1] == "4"


def test_the_csv_quotes_a_venue_name_that_excel_would_run_as_a_formula(administrator):
    Venue.objects.filter(code=OTHER).update(name='=HYPERLINK("http://x.example","x")')
    rows = csv_of(administrator.get(URL, {**DECEMBER, "format": "csv"}))
    names = [row[1] for row in rows if len(row) > 1 and row[0].isdigit()]
    assert '\'=HYPERLINK("http://x.example","x")' in names


@pytest.mark.parametrize(
    "params",
    [
        {"from": "9999-12-31", "to": "9999-12-31"},
        {"from": "0001-01-01", "to": "2026-12-31"},
        {"from": "2026-12-31", "to": "2026-12-01"},
        {"from": "2025-01-01", "to": "2026-12-31"},
        {"from": "2026-12-01"},
        {"month": "2026-13"},
        {"month": "9999-12"},
        {"period": "hour"},
        {"procedure": "nope"},
    ],
)
def test_bad_input_is_answered_with_a_message_not_an_error(administrator, params):
    response = administrator.get(URL, {"venue": CODE, **params})
    assert response.status_code == 400
    assert response.context["errors"] and response.context["stats"] is None
    assert administrator.get(URL, {"venue": CODE, "format": "csv", **params}).status_code == 400


def test_a_clerk_without_a_venue_is_told_so(client, december):
    client.force_login(staff_user("stats-nobody"))
    response = client.get(URL)
    assert response.status_code == 200 and "担当会場がありません" in response.content.decode()


def queries_for(client, **params) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(URL, params)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("who", ["clerk", "administrator"])
def test_the_page_reads_in_the_same_number_of_queries_for_a_day_a_month_and_a_year(request, who):
    client = request.getfixturevalue(who)
    day = queries_for(client, **{"from": "2026-12-15", "to": "2026-12-15"})
    month = queries_for(client, **DECEMBER)
    year = queries_for(client, **{"from": "2026-01-01", "to": "2026-12-31"})
    year_by_week = queries_for(client, **{"from": "2026-01-01", "to": "2026-12-31", "period": "week"})
    assert day == month == year == year_by_week
    assert day <= 10


def test_the_statistics_read_in_two_queries(december, django_assert_num_queries):
    _people, now = december
    venues = list(Venue.objects.all())
    for first, last in ((TUESDAY, TUESDAY), (date(2026, 1, 1), date(2026, 12, 31))):
        with django_assert_num_queries(2):
            statistics.statistics_for(
                venues=venues, first=first, last=last, period="day", now=now, ranking=True
            )


def test_the_index_links_to_the_statistics(administrator):
    page = administrator.get(reverse("admin:index")).content.decode()
    assert reverse("admin:bookings_booking_statistics") in page


def test_a_year_by_month_has_twelve_rows_and_the_totals(administrator):
    response = administrator.get(
        URL, {"venue": CODE, "from": "2026-01-01", "to": "2026-12-31", "period": "month"}
    )
    rows = response.context["rows"]
    assert [r[0] for r in rows] == [f"2026-{m:02d}" for m in range(1, 13)] + ["合計"]
    assert rows[-1][1:] == rows[-2][1:]  # only December has bookings and seats
    assert all(r[1] == "0" for r in rows[:11])
