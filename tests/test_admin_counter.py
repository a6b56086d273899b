"""The counter as a clerk of 飯田警察署 meets it (issue 13, "Staff pages"): check-in on the visit's day
only, "did not come" only after the slot plus a grace period, the scanner's focus, the day page's
version for the self-refresh, the closure's confirmation and people to phone, Japanese labels
instead of codes, phones in the CSV kept as text."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from bookings import queue
from bookings.models import Booking
from scheduler.clock import at_jst
from scheduler.errors import NoShowTooEarly, NotTheVisitDay
from tests.admin_setup import MONDAY, TUESDAY, book, generate, staff_user
from venues.admin import error_text
from venues.models import Closure, Venue

pytestmark = pytest.mark.django_db


@pytest.fixture
def tuesday(nagano, travel):
    generate("iida-station", "toshin-centre")
    bookings = {
        "hanako": book("iida-station", TUESDAY, 10, 30, name="飯田 花子", phone="0265-22-0001"),
        "taro": book("iida-station", TUESDAY, 10, 40, name="天竜 太郎", email="taro@example.jp"),
        "jiro": book("iida-station", TUESDAY, 14, 30, name="松川 次郎", phone="0265-33-0003"),
        "mail": book("iida-station", TUESDAY, 15, 0, name="メール 有子", email="yuko@example.jp"),
    }
    travel(2026, 12, 15, 10, 25)
    return bookings


@pytest.fixture
def clerk(client, tuesday):
    client.force_login(staff_user("iida-clerk", "iida-station"))
    return client


def day_url(**params) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"venue": "iida-station", **params}.items())
    return f"{reverse('admin:bookings_booking_day')}?{query}"


def step(client: Client, booking: Booking, action: str, **extra):
    url = reverse("admin:bookings_booking_step", args=[booking.pk])
    return client.post(url, {"action": action, "next": day_url(date="2026-12-15"), **extra})


def status_of(booking: Booking) -> str:
    booking.refresh_from_db()
    return booking.status


# --- The counter's time rules (the services) ----------------------------------------------------


def test_checking_in_is_refused_before_the_visits_day_and_accepted_on_it(tuesday):
    hanako = tuesday["hanako"]
    for action in ("check_in", "start"):
        with pytest.raises(NotTheVisitDay) as refused:
            queue.booking_transition(booking=hanako, action=action, now=at_jst(MONDAY, 16, 0), actor=None)
        assert error_text(refused.value) == "受付は来庁日（12月15日）の当日だけできます。"
    assert status_of(hanako) == Booking.Status.CONFIRMED
    early_morning = at_jst(TUESDAY, 0, 5)  # the visit's day in Japan (still the 14th in UTC)
    queue.booking_transition(booking=hanako, action="check_in", now=early_morning, actor=None)
    assert status_of(hanako) == Booking.Status.CHECKED_IN


def test_checking_in_the_day_after_is_refused_too(tuesday):
    with pytest.raises(NotTheVisitDay):
        queue.booking_transition(
            booking=tuesday["hanako"], action="check_in", now=at_jst(TUESDAY.replace(day=16), 9), actor=None
        )


def test_did_not_come_waits_for_the_end_of_the_slot_plus_the_grace_period(tuesday, settings):
    hanako = tuesday["hanako"]  # 10:30–10:40, grace 15 minutes by default
    assert settings.NO_SHOW_AFTER_MINUTES == 15
    for minute in (35, 40, 54):
        with pytest.raises(NoShowTooEarly) as refused:
            queue.booking_transition(
                booking=hanako, action="no_show", now=at_jst(TUESDAY, 10, minute), actor=None
            )
    assert error_text(refused.value) == "「来庁なし」にできるのは予約の時間が終わってからです（10:55以降）。"
    queue.booking_transition(booking=hanako, action="no_show", now=at_jst(TUESDAY, 10, 55), actor=None)
    assert status_of(hanako) == Booking.Status.NO_SHOW


def test_the_grace_period_is_a_setting(tuesday, settings):
    settings.NO_SHOW_AFTER_MINUTES = 0
    taro = tuesday["taro"]  # 10:40–10:50
    queue.booking_transition(booking=taro, action="no_show", now=at_jst(TUESDAY, 10, 50), actor=None)
    assert status_of(taro) == Booking.Status.NO_SHOW


def test_a_refused_step_says_why_on_the_day_page(clerk, tuesday, travel):
    travel(2026, 12, 14, 15, 0)  # Monday: Tuesday's booking cannot be checked in yet
    response = step(clerk, tuesday["hanako"], "check_in")
    page = clerk.get(response["Location"]).content.decode()
    assert "受付は来庁日（12月15日）の当日だけできます。" in page
    travel(2026, 12, 15, 10, 45)
    response = step(clerk, tuesday["taro"], "no_show")
    page = clerk.get(response["Location"]).content.decode()
    assert "「来庁なし」にできるのは予約の時間が終わってからです（11:05以降）。" in page
    assert status_of(tuesday["hanako"]) == status_of(tuesday["taro"]) == Booking.Status.CONFIRMED


def test_the_bulk_actions_refuse_the_same_way(clerk, tuesday, travel):
    travel(2026, 12, 14, 15, 0)
    response = clerk.post(
        reverse("admin:bookings_booking_changelist"),
        {"action": "check_in", "_selected_action": [tuesday["hanako"].pk]},
        follow=True,
    )
    assert "受付は来庁日（12月15日）の当日だけできます。" in response.content.decode()
    assert status_of(tuesday["hanako"]) == Booking.Status.CONFIRMED


# --- The scanner: scan, Enter, Enter -----------------------------------------------------------


def test_a_scanned_reference_opens_its_row_with_the_next_step_focused(clerk, tuesday):
    hanako = tuesday["hanako"]
    response = clerk.get(
        reverse("admin:bookings_booking_day"), {"venue": "iida-station", "q": hanako.reference}
    )
    assert response.status_code == 302
    assert f"hl={hanako.reference}" in response["Location"] and "go=1" in response["Location"]
    page = clerk.get(response["Location"]).content.decode()
    focused = re.findall(r"<(?:input|button)[^>]*\bautofocus\b[^>]*>", page)
    assert len(focused) == 1 and 'value="check_in"' in focused[0]
    row = re.search(rf'<tr id="b-{hanako.reference}" class="([^"]*)"', page)
    assert row and "hl" in row.group(1).split()


def test_after_a_step_the_row_stays_highlighted_and_the_focus_is_back_in_the_look_up_box(clerk, tuesday):
    hanako = tuesday["hanako"]
    response = step(clerk, hanako, "check_in")
    location = response["Location"]
    assert location.endswith(f"#b-{hanako.reference}") and f"hl={hanako.reference}" in location
    assert "go=1" not in location
    page = clerk.get(location).content.decode()
    focused = re.findall(r"<(?:input|button)[^>]*\bautofocus\b[^>]*>", page)
    assert len(focused) == 1 and 'id="q-lookup"' in focused[0]
    assert f'id="b-{hanako.reference}" class="st-checked_in hl"' in page


def test_a_second_scan_focuses_the_next_step_again(clerk, tuesday):
    hanako = tuesday["hanako"]
    step(clerk, hanako, "check_in")
    location = clerk.get(reverse("admin:bookings_booking_day"), {"q": hanako.reference})["Location"]
    page = clerk.get(location).content.decode()
    assert re.search(r'<button[^>]*value="start"[^>]*autofocus', page)
    step(clerk, hanako, "start")
    page = clerk.get(clerk.get(reverse("admin:bookings_booking_day"), {"q": hanako.reference})["Location"])
    assert re.search(r'<button[^>]*value="done"[^>]*autofocus', page.content.decode())


def test_a_finished_booking_gets_no_focused_button(clerk, tuesday):
    hanako = tuesday["hanako"]
    for action in ("check_in", "done"):
        step(clerk, hanako, action)
    page = clerk.get(clerk.get(reverse("admin:bookings_booking_day"), {"q": hanako.reference})["Location"])
    focused = re.findall(r"<(?:input|button)[^>]*\bautofocus\b[^>]*>", page.content.decode())
    assert len(focused) == 1 and 'id="q-lookup"' in focused[0]  # never 元に戻す by a stray Enter


def test_a_walk_in_comes_back_highlighted(clerk):
    response = clerk.post(
        reverse("admin:bookings_booking_book"),
        {
            "venue": "iida-station",
            "date": "2026-12-15",
            "channel": "walk_in",
            "start": at_jst(TUESDAY, 11, 20).isoformat(),
            "procedure": "erase",
            "name": "窓口 来子",
        },
    )
    reference = Booking.objects.get(name="窓口 来子").reference
    assert f"hl={reference}" in response["Location"]
    assert f'id="b-{reference}" class="st-confirmed hl"' in clerk.get(response["Location"]).content.decode()


# --- Refreshing itself --------------------------------------------------------------------------


def test_the_day_page_has_a_version_that_changes_when_another_counter_acts(clerk, tuesday):
    response = clerk.get(day_url(date="2026-12-15"))
    page = response.content.decode()
    version = response.context["version"]
    assert f'data-day-version="{version}"' in page
    url = reverse("admin:bookings_booking_day_version")
    polled = clerk.get(url, {"venue": "iida-station", "date": "2026-12-15"})
    assert polled["Content-Type"] == "application/json" and "no-store" in polled["Cache-Control"]
    assert json.loads(polled.content) == {"version": version}

    other = Client()
    other.force_login(staff_user("iida-clerk-2", "iida-station"))
    step(other, tuesday["taro"], "check_in")
    changed = json.loads(clerk.get(url, {"venue": "iida-station", "date": "2026-12-15"}).content)["version"]
    assert changed != version
    assert clerk.get(day_url(date="2026-12-15")).context["version"] == changed


def test_the_version_is_scoped_to_the_clerks_venues(clerk):
    url = reverse("admin:bookings_booking_day_version")
    assert clerk.get(url, {"venue": "toshin-centre", "date": "2026-12-15"}).status_code == 404
    assert Client().get(url, {"venue": "iida-station"}).status_code == 302  # to the login page


def test_the_day_page_works_without_inline_script_and_has_an_update_link(clerk):
    page = clerk.get(day_url(date="2026-12-15")).content.decode()
    assert "/static/bookings/admin_day.js" in page
    assert not re.search(r"\son[a-z]+=", page.split('id="content-main"')[1])  # no inline handlers
    assert re.search(r'<a class="button q-refresh" href="[^"]+"[^>]*>更新</a>', page)


# --- Closing an afternoon ------------------------------------------------------------------------


def closure_form(**changes) -> dict:
    data = {
        "venue": Venue.objects.get(code="iida-station").pk,
        "start_date": "2026-12-15",
        "end_date": "",
        "start_time": "13:00",
        "end_time": "17:00",
        "note": "午後は臨時休業します",
    }
    return {**data, **changes}


def test_the_closure_asks_for_confirmation_in_a_neutral_box_not_as_an_error(clerk, tuesday):
    response = clerk.post(reverse("admin:venues_closure_add"), closure_form())
    page = response.content.decode()
    assert response.status_code == 200 and not Closure.objects.exists()
    assert 'class="closure-confirm"' in page and "2件の予約が会場都合で取り消されます" in page
    assert "errornote" not in page and "errorlist" not in page
    assert tuesday["jiro"].reference in page and "0265330003" in page


def test_the_people_to_phone_stay_on_the_closures_page_and_print(clerk, tuesday):
    response = clerk.post(reverse("admin:venues_closure_add"), closure_form(confirm_cancel="on"))
    closure = Closure.objects.get()
    change_url = reverse("admin:venues_closure_change", args=[closure.pk])
    assert response["Location"] == f"{change_url}#to-phone"
    first = clerk.get(change_url).content.decode()
    assert "電話で連絡する方" in first and "電話で連絡してください" in first  # the message, once
    again = clerk.get(change_url).content.decode()  # not a one-off message: there every time
    to_phone = again.split('id="to-phone"')[1].split("</table>")[0]
    assert tuesday["jiro"].reference in to_phone and "0265330003" in to_phone and "松川 次郎" in to_phone
    assert tuesday["mail"].reference not in to_phone  # told by e-mail
    printable = clerk.get(reverse("admin:venues_closure_phone", args=[closure.pk])).content.decode()
    assert "松川 次郎" in printable and "0265330003" in printable and "14:30" in printable
    assert "メール 有子" not in printable and "ログアウト" not in printable


def test_another_venues_phone_list_is_not_found(clerk, tuesday):
    toshin = Venue.objects.get(code="toshin-centre")
    closure = Closure.objects.create(venue=toshin, start_date=TUESDAY, end_date=TUESDAY)
    assert clerk.get(reverse("admin:venues_closure_phone", args=[closure.pk])).status_code == 404


# --- Labels, not codes -------------------------------------------------------------------------


def test_the_booking_history_shows_labels_not_codes(clerk, tuesday):
    hanako = tuesday["hanako"]
    step(clerk, hanako, "check_in")
    page = clerk.get(reverse("admin:bookings_booking_change", args=[hanako.pk])).content.decode()
    assert "（新規） → 予約済み" in page and "予約済み → 受付済み" in page
    assert "ご本人" in page and "職員" in page and "日本語" in page
    for code in ("∅", "→confirmed", ">resident<", ">staff<", ">check_in<", ">ja<"):
        assert code not in page, code


def test_the_admin_index_has_no_recent_actions_and_axes_is_in_japanese(client, nagano):
    client.force_login(User.objects.create_superuser("root", password="a-long-test-password-42"))
    index = client.get(reverse("admin:index")).content.decode()
    assert 'id="recent-actions-module"' not in index
    assert "ログインの記録（不正ログイン対策）" in index and "ログイン失敗の記録" in index
    assert "Access attempts" not in index and "Axes" not in index
    AccessAttempt.objects.create(
        username="someone",
        ip_address="192.0.2.1",
        user_agent="x",
        http_accept="*/*",
        path_info="/admin/login/",
        get_data="",
        post_data="",
        failures_since_start=1,
    )
    attempts = client.get(reverse("admin:axes_accessattempt_changelist")).content.decode()
    assert "IPアドレス" in attempts and "IP Address" not in attempts


def test_the_csv_keeps_phone_numbers_as_text_for_excel(clerk, tuesday):
    response = clerk.get(
        reverse("admin:bookings_booking_export"), {"venue": "iida-station", "from": "2026-12-15"}
    )
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    phones = {row[5]: row[6] for row in rows[1:]}
    assert phones["飯田 花子"] == '="0265220001"'
    assert phones["天竜 太郎"].startswith('="090')


def test_the_audit_list_names_objects_and_actions_in_japanese(client, nagano, travel):
    travel(2026, 12, 14, 12, 0)
    admin_user = staff_user("pref-admin", admin=True)
    client.force_login(admin_user)
    client.post(
        reverse("admin:venues_closure_add"),
        {**closure_form(start_time="", end_time=""), "start_date": "2026-12-16"},
    )
    page = client.get(reverse("admin:venues_auditentry_changelist")).content.decode()
    table = page.split('id="result_list"')[1].split("</table>")[0]
    assert ">休業<" in table and ">追加<" in table
    assert ">closure<" not in page and ">add<" not in page
    assert "?object_type=closure" in page and "?audit_action=add" in page
