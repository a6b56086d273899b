"""The day's queue in the admin: the day page, one-click steps with undo, look-up, walk-ins, print,
CSV export and the month overview — for a clerk of 飯田警察署 on Tuesday 15 December 2026."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from bookings.models import Booking, BookingEvent, Slot
from scheduler.clock import at_jst
from tests.admin_setup import MONDAY, TUESDAY, WEDNESDAY, book, generate, staff_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def tuesday(nagano, travel):
    generate("iida-station")
    bookings = {
        "hanako": book("iida-station", TUESDAY, 10, 30, name="飯田 花子", phone="0265-22-0001"),
        "taro": book("iida-station", TUESDAY, 10, 40, name="天竜 太郎", email="taro@example.jp"),
        "jiro": book("iida-station", TUESDAY, 14, 30, name="松川 次郎", procedure="erase"),
    }
    travel(2026, 12, 15, 10, 25)
    return bookings


@pytest.fixture
def clerk(client, tuesday):
    client.force_login(staff_user("iida-clerk", "iida-station"))
    return client


def day_page(client: Client, **params) -> str:
    response = client.get(reverse("admin:bookings_booking_day"), params)
    assert response.status_code == 200
    return response.content.decode()


def step(client: Client, booking: Booking, action: str):
    return client.post(reverse("admin:bookings_booking_step", args=[booking.pk]), {"action": action})


def status_of(booking: Booking) -> str:
    booking.refresh_from_db()
    return booking.status


# --- The day page -------------------------------------------------------------------------------


def test_the_day_page_lists_every_slot_in_order_with_its_bookings(clerk, tuesday):
    page = day_page(clerk)
    times = ["10:30–10:40", "10:40–10:50", "11:20–11:30", "14:30–14:40", "15:20–15:30"]
    positions = [page.index(t) for t in times]
    assert positions == sorted(positions)
    hanako = tuesday["hanako"]
    row = page[page.index(f'id="b-{hanako.reference}"') :][:3000]
    assert "飯田 花子" in row and "特定免許情報の記録" in row and "予約済み" in row
    assert "カード期限内: はい" in row and "免許停止中: いいえ" in row
    assert page.index(hanako.reference) < page.index("10:40–10:50") < page.index(tuesday["taro"].reference)
    assert page.index("14:30–14:40") < page.index("松川 次郎")


def test_the_day_page_counts_bookings_per_status(clerk, tuesday):
    step(clerk, tuesday["hanako"], "check_in")
    counts = {
        label: n
        for _value, label, n in clerk.get(reverse("admin:bookings_booking_day")).context["queue"].counts
    }
    assert counts["予約済み"] == 2 and counts["受付済み"] == 1 and counts["完了"] == 0


def test_any_day_can_be_opened_not_only_today(clerk, tuesday, travel):
    travel(2026, 12, 16, 9, 0)  # Wednesday: Tuesday is now in the past
    page = day_page(clerk, date="2026-12-15")
    assert "飯田 花子" in page and "2026年12月15日" in page
    assert "当日受付を追加" not in page  # no walk-in into the past


def test_the_admin_index_links_to_the_day_page(clerk):
    page = clerk.get(reverse("admin:index")).content.decode()
    assert f"{reverse('admin:bookings_booking_day')}?venue=iida-station" in page


def test_the_day_page_runs_a_fixed_number_of_queries_whatever_the_number_of_bookings(clerk, tuesday):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert clerk.get(reverse("admin:bookings_booking_day")).status_code == 200
        return len(captured)

    few = queries()
    book("iida-station", TUESDAY, 10, 50, name="追加 一")
    for hour, minute in ((11, 0), (11, 10), (11, 20), (14, 40), (14, 50), (15, 0), (15, 10), (15, 20)):
        book("iida-station", TUESDAY, hour, minute, name="追加 二", email=f"p{hour}{minute}@example.jp")
    step(clerk, Booking.objects.get(reference=tuesday["hanako"].reference), "check_in")
    assert Booking.objects.filter(slot__date=TUESDAY).count() == 12
    many = queries()
    assert few == many
    assert many <= 16  # session and user, slots, bookings, held seats, closures, the seat picker's read


# --- One-click steps and undo ----------------------------------------------------------------------


def test_checking_in_starting_and_finishing_go_through_the_services_with_the_clerk_recorded(clerk, tuesday):
    hanako = tuesday["hanako"]
    response = step(clerk, hanako, "check_in")
    assert response.status_code == 302
    assert response["Location"].endswith(f"#b-{hanako.reference}")
    assert "date=2026-12-15" in response["Location"]
    assert status_of(hanako) == Booking.Status.CHECKED_IN
    step(clerk, hanako, "start")
    assert status_of(hanako) == Booking.Status.IN_SERVICE
    step(clerk, hanako, "done")
    assert status_of(hanako) == Booking.Status.DONE
    events = list(BookingEvent.objects.filter(booking=hanako).order_by("id"))
    assert [(e.from_status, e.to_status) for e in events[1:]] == [
        ("confirmed", "checked_in"),
        ("checked_in", "in_service"),
        ("in_service", "done"),
    ]
    assert {e.actor.username for e in events[1:]} == {"iida-clerk"}


def test_an_invalid_step_is_refused_with_a_message_and_changes_nothing(clerk, tuesday, travel):
    hanako = tuesday["hanako"]
    response = step(clerk, hanako, "done")
    assert status_of(hanako) == Booking.Status.CONFIRMED
    page = clerk.get(response["Location"]).content.decode()
    assert "今の状態からはその操作はできません" in page
    travel(2026, 12, 15, 10, 55)  # her 10:30–10:40 slot is over, plus the grace period
    step(clerk, hanako, "no_show")
    step(clerk, hanako, "check_in")
    assert status_of(hanako) == Booking.Status.NO_SHOW


def test_undo_steps_back_over_the_last_step_only(clerk, tuesday, travel):
    hanako = tuesday["hanako"]
    step(clerk, hanako, "check_in")
    step(clerk, hanako, "start")
    step(clerk, hanako, "undo")
    assert status_of(hanako) == Booking.Status.CHECKED_IN
    travel(2026, 12, 15, 11, 5)  # taro's 10:40 slot is over, plus the grace period
    step(clerk, tuesday["taro"], "no_show")
    step(clerk, tuesday["taro"], "undo")
    assert status_of(tuesday["taro"]) == Booking.Status.CONFIRMED
    step(clerk, tuesday["taro"], "undo")  # nothing left to undo
    assert status_of(tuesday["taro"]) == Booking.Status.CONFIRMED


def test_the_day_page_offers_only_the_steps_the_status_allows(clerk, tuesday):
    hanako = tuesday["hanako"]
    step(clerk, hanako, "check_in")
    rows = {
        row.booking.reference: [a for a, _label in row.actions]
        for group in clerk.get(reverse("admin:bookings_booking_day")).context["queue"].slot_rows
        for row in group.rows
    }
    assert rows[hanako.reference] == ["start", "done", "undo"]
    assert rows[tuesday["taro"].reference] == ["check_in", "start", "no_show"]


def test_steps_need_a_post_with_a_csrf_token(tuesday):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(staff_user("strict-clerk", "iida-station"))
    hanako = tuesday["hanako"]
    url = reverse("admin:bookings_booking_step", args=[hanako.pk])
    assert strict.post(url, {"action": "check_in"}).status_code == 403
    assert strict.get(url, {"action": "check_in"}).status_code == 405
    assert status_of(hanako) == Booking.Status.CONFIRMED


def test_the_bulk_actions_use_the_same_steps(clerk, tuesday):
    ids = [tuesday["hanako"].pk, tuesday["taro"].pk]
    clerk.post(reverse("admin:bookings_booking_changelist"), {"action": "check_in", "_selected_action": ids})
    assert {status_of(tuesday["hanako"]), status_of(tuesday["taro"])} == {Booking.Status.CHECKED_IN}
    clerk.post(reverse("admin:bookings_booking_changelist"), {"action": "undo_step", "_selected_action": ids})
    assert {status_of(tuesday["hanako"]), status_of(tuesday["taro"])} == {Booking.Status.CONFIRMED}


def test_a_clerk_can_cancel_a_booking_for_the_person_and_the_seat_is_freed(clerk, tuesday):
    taro = tuesday["taro"]
    step(clerk, taro, "cancel")
    assert status_of(taro) == Booking.Status.CANCELLED
    assert Slot.objects.get(pk=taro.slot_id).taken == 0


# --- Look-up --------------------------------------------------------------------------------------


def test_a_typed_or_scanned_reference_opens_the_bookings_day_with_the_row_highlighted(clerk, tuesday, travel):
    travel(2026, 12, 14, 9, 0)  # the day before: the booking is on another day
    hanako = tuesday["hanako"]
    for typed in (
        hanako.reference,
        hanako.reference.lower(),
        f"https://example.jp/booking/{hanako.reference}/",
    ):
        response = clerk.get(reverse("admin:bookings_booking_day"), {"q": typed})
        assert response.status_code == 302
        assert "date=2026-12-15" in response["Location"] and f"hl={hanako.reference}" in response["Location"]
    page = clerk.get(response["Location"]).content.decode()
    assert f'id="b-{hanako.reference}" class="st-confirmed hl"' in page


def test_looking_up_by_phone_or_name_lists_the_matches(clerk, tuesday):
    for typed in ("0265-22-0001", "０２６５２２０００１", "花子", "飯田 花子"):
        results = clerk.get(reverse("admin:bookings_booking_day"), {"q": typed}).context["results"]
        assert [b.reference for b in results] == [tuesday["hanako"].reference], typed


def test_the_admin_search_box_finds_a_booking_by_phone_typed_with_hyphens(clerk, tuesday):
    response = clerk.get(reverse("admin:bookings_booking_changelist"), {"q": "0265-22-0001"})
    assert [b.name for b in response.context["cl"].result_list] == ["飯田 花子"]


# --- Walk-ins and staff bookings --------------------------------------------------------------------


def walk_in(client: Client, hour: int, minute: int, **extra):
    data = {
        "venue": "iida-station",
        "date": "2026-12-15",
        "procedure": "erase",
        "start": at_jst(TUESDAY, hour, minute).isoformat(),
        "name": "当日 来子",
        "channel": "walk_in",
        **extra,
    }
    return client.post(reverse("admin:bookings_booking_book"), data)


def test_a_walk_in_goes_into_a_free_seat_now(clerk):
    response = walk_in(clerk, 10, 50)
    booking = Booking.objects.get(name="当日 来子")
    assert (booking.channel, booking.status, booking.phone) == ("walk_in", "confirmed", "")
    assert response.status_code == 302 and f"hl={booking.reference}" in response["Location"]
    assert Slot.objects.get(pk=booking.slot_id).taken == 1
    assert booking.events.get().actor.username == "iida-clerk"


def test_a_walk_in_into_a_full_slot_is_refused(clerk, tuesday):
    response = walk_in(clerk, 10, 30)  # 飯田 花子 holds the only seat
    assert response.status_code == 409
    assert "この枠は満席です" in response.content.decode()
    assert not Booking.objects.filter(name="当日 来子").exists()
    assert Slot.objects.get(start=at_jst(TUESDAY, 10, 30), venue__code="iida-station").taken == 1


def test_a_staff_booking_goes_into_a_future_seat_after_the_online_cutoff(clerk):
    response = clerk.post(
        reverse("admin:bookings_booking_book"),
        {
            "venue": "iida-station",
            "date": "2026-12-16",
            "procedure": "record",
            "start": at_jst(WEDNESDAY, 10, 30).isoformat(),
            "name": "電話 予約子",
            "phone": "090-3333-4444",
            "channel": "staff",
        },
    )
    assert response.status_code == 302
    booking = Booking.objects.get(name="電話 予約子")
    assert (booking.channel, booking.phone) == ("staff", "09033334444")


def test_the_booking_page_shows_the_free_seats_of_the_chosen_day(clerk, tuesday):
    page = clerk.get(reverse("admin:bookings_booking_book"), {"date": "2026-12-15"}).content.decode()
    offered = [
        s
        for s in Slot.objects.filter(venue__code="iida-station", date=TUESDAY)
        if s.start.isoformat() in page
    ]
    assert [f"{s.start:%H:%M}" for s in offered][:3] == [
        "01:50",
        "02:00",
        "02:10",
    ]  # 10:50… JST; 10:30/10:40 full
    assert len(offered) == 12 - 3


# --- Print, CSV, month ---------------------------------------------------------------------------


def test_the_print_view_lists_the_day_without_the_admin_chrome(clerk, tuesday):
    page = clerk.get(reverse("admin:bookings_booking_day_print")).content.decode()
    assert "飯田 花子" in page and "松川 次郎" in page and "予約一覧" in page
    assert "ログアウト" not in page


def test_the_csv_of_a_day_is_utf8_with_a_bom_and_one_row_per_booking(clerk, tuesday):
    response = clerk.get(
        reverse("admin:bookings_booking_export"), {"venue": "iida-station", "from": "2026-12-15"}
    )
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="bookings-iida-station-2026-12-15.csv"' in response["Content-Disposition"]
    raw = response.content
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:6] == ["日付", "開始", "終了", "会場", "予約番号", "氏名"]
    assert [(r[1], r[4], r[5], r[9]) for r in rows[1:]] == [
        ("10:30", tuesday["hanako"].reference, "飯田 花子", "予約済み"),
        ("10:40", tuesday["taro"].reference, "天竜 太郎", "予約済み"),
        ("14:30", tuesday["jiro"].reference, "松川 次郎", "予約済み"),
    ]
    assert rows[1][6] == '="0265220001"' and rows[2][7] == "taro@example.jp"  # text: Excel keeps the 0
    assert "カード期限内: はい" in rows[1][11]


def test_the_csv_of_a_range_covers_every_day_of_it(clerk, tuesday):
    later = book("iida-station", WEDNESDAY, 10, 30, name="水曜 予約", now=at_jst(MONDAY, 10, 0))
    url = reverse("admin:bookings_booking_export")
    one_day = clerk.get(url, {"venue": "iida-station", "from": "2026-12-15"}).content.decode("utf-8-sig")
    both = clerk.get(url, {"venue": "iida-station", "from": "2026-12-15", "to": "2026-12-16"})
    assert later.reference not in one_day
    assert later.reference in both.content.decode("utf-8-sig")
    assert clerk.get(url, {"from": "2026-12-16", "to": "2026-12-15"}).status_code == 400


def test_the_csv_neutralises_text_that_excel_would_run_as_a_formula(clerk):
    walk_in(clerk, 10, 50, name="=HYPERLINK(1)")
    text = clerk.get(reverse("admin:bookings_booking_export"), {"from": "2026-12-15"}).content.decode(
        "utf-8-sig"
    )
    assert "'=HYPERLINK(1)" in text


def test_the_month_overview_shows_seats_taken_and_capacity_per_day(clerk, tuesday):
    response = clerk.get(reverse("admin:bookings_slot_month"), {"month": "2026-12"})
    cells = {cell.day: cell for week in response.context["weeks"] for cell in week}
    assert (cells[TUESDAY].taken, cells[TUESDAY].capacity) == (3, 12)
    assert (cells[WEDNESDAY].taken, cells[WEDNESDAY].capacity) == (0, 12)
    assert not cells[TUESDAY.replace(day=19)].open  # Saturday
    assert "3 / 12" in response.content.decode()


def test_the_slot_list_filters_full_and_free_slots(clerk, tuesday):
    url = reverse("admin:bookings_slot_changelist")
    full = clerk.get(url, {"seats": "full", "date": "2026-12-15"}).context["cl"].result_list
    assert sorted(f"{s.start:%H:%M}" for s in full) == [
        "01:30",
        "01:40",
        "05:30",
    ]  # UTC of 10:30, 10:40, 14:30
    free = clerk.get(url, {"seats": "free", "date": "2026-12-15"}).context["cl"].result_count
    assert free == 12 - 3


# --- Held seats ---------------------------------------------------------------------------------


def hold_seat(hour: int, minute: int, day=WEDNESDAY):
    from bookings import holds
    from venues.models import Procedure, Venue

    return holds.hold_create(
        venue=Venue.objects.get(code="iida-station"),
        procedure=Procedure.objects.get(code="record"),
        start=at_jst(day, hour, minute),
        now=at_jst(TUESDAY, 10, 0),  # before Wednesday's cut-off; the hold lasts the day's 10 minutes
    )


def test_the_day_page_shows_seats_held_by_residents_apart_from_bookings(clerk, travel):
    hold_seat(10, 30)
    travel(2026, 12, 15, 10, 5)
    page = day_page(clerk, date="2026-12-16")
    held = Slot.objects.get(venue__code="iida-station", start=at_jst(WEDNESDAY, 10, 30))
    header = page.split(f'id="s-{held.pk}"')[1].split("</tr>")[0]
    assert "入力中の確保 1" in header and "予約 0/1" in header and "空き 0" in header
    free = Slot.objects.get(venue__code="iida-station", start=at_jst(WEDNESDAY, 10, 40))
    assert "入力中の確保" not in page.split(f'id="s-{free.pk}"')[1].split("</tr>")[0]


def test_the_clerks_seat_pickers_never_offer_a_held_seat(clerk, travel):
    hold_seat(10, 30)
    travel(2026, 12, 15, 10, 5)
    day = clerk.get(reverse("admin:bookings_booking_day"), {"date": "2026-12-16"})
    offered = {f"{clock_local(s.start):%H:%M}" for s in day.context["queue"].bookable}
    assert "10:30" not in offered and "10:40" in offered
    book_page = clerk.get(reverse("admin:bookings_booking_book"), {"date": "2026-12-16"})
    offered = {f"{clock_local(s.start):%H:%M}" for s in book_page.context["slots"]}
    assert "10:30" not in offered and "10:40" in offered
    refused = clerk.post(
        reverse("admin:bookings_booking_book"),
        {
            "venue": "iida-station",
            "date": "2026-12-16",
            "procedure": "record",
            "channel": "staff",
            "start": at_jst(WEDNESDAY, 10, 30).isoformat(),
            "name": "職員 予約",
            "phone": "0265000000",
        },
    )
    assert refused.status_code == 409 and not Booking.objects.filter(name="職員 予約").exists()


def test_the_month_overview_counts_held_seats_apart(clerk, travel):
    hold_seat(10, 30)
    travel(2026, 12, 15, 10, 5)
    response = clerk.get(reverse("admin:bookings_slot_month"), {"month": "2026-12"})
    cells = {cell.day: cell for week in response.context["weeks"] for cell in week}
    assert (cells[WEDNESDAY].taken, cells[WEDNESDAY].held) == (0, 1)
    assert "+確保1" in response.content.decode()


def clock_local(moment):
    from scheduler.clock import local

    return local(moment)
