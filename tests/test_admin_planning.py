"""Planning in the admin: counters and reserved seats, closures with their confirmation, the audit
shown on the object's page, and the two roles created by the migration."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from bookings.models import Booking, Notification, Slot
from scheduler.clock import at_jst
from tests.admin_setup import TUESDAY, book, generate, staff_user
from venues.models import AuditEntry, Closure, ReceptionWindow, Venue
from venues.scoping import ADMIN_GROUP, STAFF_GROUP

pytestmark = pytest.mark.django_db


@pytest.fixture
def clerk(client, nagano, travel):
    generate("iida-station")
    travel(2026, 12, 14, 12, 0)
    client.force_login(staff_user("iida-clerk", "iida-station"))
    return client


def window_form(window: ReceptionWindow, **changes) -> dict:
    data = {
        "label": window.label,
        "weekdays": window.weekdays,
        "start": f"{window.start:%H:%M}",
        "end": f"{window.end:%H:%M}",
        "slot_minutes": window.slot_minutes,
        "counters": window.counters,
        "reserved": window.reserved,
        "procedures": list(window.procedures.values_list("pk", flat=True)),
        "valid_from": "",
        "valid_until": "",
    }
    return {**data, **changes}


def am() -> ReceptionWindow:
    return ReceptionWindow.objects.get(venue__code="iida-station", label="am")


def test_raising_counters_in_the_admin_adds_seats_and_shows_the_change_on_the_windows_page(clerk):
    window = am()
    url = reverse("admin:venues_receptionwindow_change", args=[window.pk])
    response = clerk.post(url, window_form(window, counters=2, reserved=1))
    assert response.status_code == 302
    assert set(Slot.objects.filter(window=window, date=TUESDAY).values_list("capacity", "reserved")) == {
        (2, 1)
    }
    page = clerk.get(url).content.decode()
    assert "変更履歴" in page and "窓口数: 1 → 2" in page and "職員用に確保する席: 0 → 1" in page
    assert "iida-clerk" in page


def test_lowering_counters_below_taken_in_the_admin_is_refused_naming_the_slots(clerk):
    window = am()
    url = reverse("admin:venues_receptionwindow_change", args=[window.pk])
    clerk.post(url, window_form(window, counters=2))
    book("iida-station", TUESDAY, 10, 30)
    book("iida-station", TUESDAY, 10, 30)
    response = clerk.post(url, window_form(am(), counters=1))
    assert response.status_code == 200
    assert "2026-12-15 10:30（予約2件）" in response.content.decode()
    assert am().counters == 2
    assert Slot.objects.get(window=window, start=at_jst(TUESDAY, 10, 30)).capacity == 2


def test_a_window_cannot_be_deleted_only_ended(clerk):
    window = am()
    assert (
        clerk.post(
            reverse("admin:venues_receptionwindow_delete", args=[window.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    response = clerk.post(
        reverse("admin:venues_receptionwindow_change", args=[window.pk]),
        window_form(window, valid_until="2026-12-15"),
    )
    assert response.status_code == 302
    assert not Slot.objects.filter(window=window, date="2026-12-16").exists()
    assert Slot.objects.filter(window=window, date=TUESDAY, active=True).count() == 6


def closure_form(**changes) -> dict:
    venue = Venue.objects.get(code="iida-station")
    data = {
        "venue": venue.pk,
        "start_date": "2026-12-15",
        "end_date": "",
        "start_time": "13:00",
        "end_time": "17:00",
        "note": "午後は臨時休業します",
    }
    return {**data, **changes}


def test_closing_an_afternoon_asks_to_confirm_then_cancels_and_lists_whom_to_call(clerk):
    morning = book("iida-station", TUESDAY, 10, 30)
    by_mail = book("iida-station", TUESDAY, 14, 30, name="メール 有子", email="yuko@example.jp")
    by_phone = book("iida-station", TUESDAY, 15, 0, name="電話 のみ", phone="0265-11-2222")
    url = reverse("admin:venues_closure_add")

    first = clerk.post(url, closure_form())
    assert first.status_code == 200
    warning = first.content.decode()
    assert "2件の予約が会場都合で取り消されます" in warning and by_phone.reference in warning
    assert not Closure.objects.exists()

    second = clerk.post(url, closure_form(confirm_cancel="on"), follow=True)
    closure = Closure.objects.get()
    assert (closure.start_date, closure.end_date, f"{closure.start_time:%H:%M}") == (
        TUESDAY,
        TUESDAY,
        "13:00",
    )
    statuses = dict(Booking.objects.values_list("reference", "status"))
    assert statuses[morning.reference] == "confirmed"
    assert statuses[by_mail.reference] == statuses[by_phone.reference] == "cancelled_by_venue"
    assert Notification.objects.filter(kind="cancelled_by_venue", booking=by_mail).count() == 1
    page = second.content.decode()
    assert "2件の予約を会場都合で取り消しました" in page
    assert "電話で連絡してください" in page and "0265112222" in page
    assert not Slot.objects.filter(
        venue__code="iida-station", date=TUESDAY, active=True, start__gte=at_jst(TUESDAY, 13)
    ).exists()
    change_page = clerk.get(reverse("admin:venues_closure_change", args=[closure.pk])).content.decode()
    assert "予約2件を会場都合で取消" in change_page


def test_a_closure_with_no_bookings_needs_no_confirmation(clerk):
    response = clerk.post(reverse("admin:venues_closure_add"), closure_form(start_time="", end_time=""))
    assert response.status_code == 302
    assert not Slot.objects.filter(venue__code="iida-station", date=TUESDAY, active=True).exists()
    assert AuditEntry.objects.get(object_type="closure").actor.username == "iida-clerk"


def test_removing_a_closure_in_the_admin_reopens_its_slots(clerk):
    clerk.post(reverse("admin:venues_closure_add"), closure_form(start_time="", end_time=""))
    closure = Closure.objects.get()
    response = clerk.post(reverse("admin:venues_closure_delete", args=[closure.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert Slot.objects.filter(venue__code="iida-station", date=TUESDAY, active=True).count() == 12
    assert AuditEntry.objects.filter(object_type="closure", action="remove").count() == 1


def test_the_migration_creates_the_two_roles_with_their_permissions():
    staff = set(Group.objects.get(name=STAFF_GROUP).permissions.values_list("codename", flat=True))
    assert {"view_booking", "change_booking", "add_booking", "add_closure", "change_receptionwindow"} <= staff
    assert not {"delete_booking", "change_venue", "add_staffmembership", "change_user"} & staff
    admin = set(Group.objects.get(name=ADMIN_GROUP).permissions.values_list("codename", flat=True))
    assert {"change_venue", "add_staffmembership", "add_user", "change_user"} <= admin


def test_a_new_clerk_works_after_ticking_the_group_and_adding_the_venue(client, nagano):
    user = staff_user("fresh", "iida-station")
    client.force_login(user)
    assert client.get(reverse("admin:bookings_booking_day")).status_code == 200
    assert client.get(reverse("admin:venues_closure_add")).status_code == 200


def test_an_administrator_cannot_make_anyone_a_superuser(client, nagano):
    client.force_login(staff_user("pref-admin", admin=True))
    other = staff_user("clerk-x", "iida-station")
    page = client.get(reverse("admin:auth_user_change", args=[other.pk])).content.decode()
    assert "担当会場" in page
    assert 'name="is_superuser"' not in page
