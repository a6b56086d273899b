"""A clerk of 飯田警察署 sees and acts on Iida only; a 東信 booking is out of reach by every path."""

from __future__ import annotations

import pytest
from django.urls import reverse

from bookings.models import Booking, Slot
from tests.admin_setup import TUESDAY, book, generate, staff_user
from venues.models import AuditEntry, Closure, ReceptionWindow, Venue

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(nagano, travel):
    generate("iida-station", "toshin-centre")
    iida = book("iida-station", TUESDAY, 10, 30, name="飯田 花子")
    toshin = book("toshin-centre", TUESDAY, 10, 0, name="佐久 次郎", email="jiro@example.jp")
    travel(2026, 12, 15, 9, 0)
    return iida, toshin


@pytest.fixture
def clerk(client, world):
    user = staff_user("iida-clerk", "iida-station")
    client.force_login(user)
    return client


def test_the_booking_list_shows_only_the_clerks_venue(clerk, world):
    iida, toshin = world
    page = clerk.get(reverse("admin:bookings_booking_changelist")).content.decode()
    assert iida.reference in page
    assert toshin.reference not in page and "佐久 次郎" not in page


def test_searching_for_another_venues_reference_finds_nothing(clerk, world):
    iida, toshin = world
    url = reverse("admin:bookings_booking_changelist")
    assert clerk.get(url, {"q": iida.reference}).context["cl"].result_count == 1
    for term in (toshin.reference, "佐久", toshin.phone):
        response = clerk.get(url, {"q": term})
        assert response.context["cl"].result_count == 0
        assert "佐久 次郎" not in response.content.decode()


def test_filtering_the_list_by_another_venue_shows_nothing(clerk, world):
    _, toshin = world
    response = clerk.get(reverse("admin:bookings_booking_changelist"), {"venue__id__exact": toshin.venue_id})
    assert toshin.reference not in response.content.decode()


def test_opening_another_venues_booking_by_url_is_refused(clerk, world):
    _, toshin = world
    for name in ("admin:bookings_booking_change", "admin:bookings_booking_history"):
        response = clerk.get(reverse(name, args=[toshin.pk]))
        assert response.status_code == 302  # to the admin index: "does not exist"
        assert "佐久 次郎" not in response.content.decode()


def test_changing_another_venues_booking_by_url_is_refused(clerk, world):
    _, toshin = world
    response = clerk.post(reverse("admin:bookings_booking_change", args=[toshin.pk]), {"name": "x"})
    assert response.status_code == 302
    toshin.refresh_from_db()
    assert toshin.name == "佐久 次郎"


def test_a_queue_step_on_another_venues_booking_is_404_and_changes_nothing(clerk, world):
    _, toshin = world
    for action in ("check_in", "no_show", "cancel"):
        response = clerk.post(reverse("admin:bookings_booking_step", args=[toshin.pk]), {"action": action})
        assert response.status_code == 404
    toshin.refresh_from_db()
    assert toshin.status == Booking.Status.CONFIRMED
    assert list(toshin.events.values_list("to_status", flat=True)) == ["confirmed"]


def test_an_action_posted_with_another_venues_booking_leaves_it_alone(clerk, world):
    iida, toshin = world
    clerk.post(
        reverse("admin:bookings_booking_changelist"),
        {"action": "check_in", "_selected_action": [toshin.pk, iida.pk]},
    )
    toshin.refresh_from_db()
    iida.refresh_from_db()
    assert toshin.status == Booking.Status.CONFIRMED
    assert iida.status == Booking.Status.CHECKED_IN


def test_the_csv_action_never_exports_another_venues_booking(clerk, world):
    iida, toshin = world
    response = clerk.post(
        reverse("admin:bookings_booking_changelist"),
        {"action": "export_csv", "_selected_action": [toshin.pk, iida.pk]},
    )
    text = response.content.decode("utf-8-sig")
    assert iida.reference in text
    assert toshin.reference not in text and "佐久" not in text


def test_exporting_another_venue_is_404_and_exporting_all_leaves_it_out(clerk, world):
    iida, toshin = world
    url = reverse("admin:bookings_booking_export")
    assert clerk.get(url, {"venue": "toshin-centre", "from": "2026-12-15"}).status_code == 404
    text = clerk.get(url, {"from": "2026-12-01", "to": "2026-12-31"}).content.decode("utf-8-sig")
    assert iida.reference in text and toshin.reference not in text


def test_the_day_page_print_view_and_month_of_another_venue_are_404(clerk):
    for name in (
        "admin:bookings_booking_day",
        "admin:bookings_booking_day_print",
        "admin:bookings_slot_month",
    ):
        assert clerk.get(reverse(name), {"venue": "toshin-centre", "date": "2026-12-15"}).status_code == 404


def test_a_walk_in_cannot_be_added_to_another_venue(clerk):
    before = Booking.objects.count()
    response = clerk.post(
        reverse("admin:bookings_booking_book"),
        {
            "venue": "toshin-centre",
            "procedure": "record",
            "start": "2026-12-15T10:10:00+09:00",
            "name": "x",
            "channel": "walk_in",
        },
    )
    assert response.status_code == 404
    assert Booking.objects.count() == before


def test_looking_up_another_venues_reference_on_the_day_page_finds_nothing(clerk, world):
    _, toshin = world
    response = clerk.get(reverse("admin:bookings_booking_day"), {"q": toshin.reference})
    assert response.status_code == 200
    page = response.content.decode()
    assert "見つかりませんでした" in page and "佐久 次郎" not in page


def test_autocomplete_offers_only_the_clerks_venues(clerk):
    response = clerk.get(
        reverse("admin:autocomplete"),
        {"app_label": "venues", "model_name": "staffmembership", "field_name": "venue", "term": ""},
    )
    names = [item["text"] for item in response.json()["results"]]
    assert names == ["飯田警察署"]


def test_slots_windows_closures_and_audit_of_another_venue_are_not_listed(clerk):
    toshin = Venue.objects.get(code="toshin-centre")
    Closure.objects.create(venue=toshin, start_date=TUESDAY, end_date=TUESDAY, note="東信の休業")
    AuditEntry.objects.create(
        venue=toshin, object_type="window", object_id="1", action="change", note="東信の記録"
    )
    filtered = clerk.get(reverse("admin:bookings_slot_changelist"), {"venue__id__exact": toshin.pk})
    assert not filtered.context["cl"].queryset.filter(venue=toshin).exists()
    listed = clerk.get(reverse("admin:bookings_slot_changelist")).context["cl"]
    assert listed.result_count == Slot.objects.filter(venue__code="iida-station").count() > 0
    assert not listed.queryset.filter(venue=toshin).exists()
    assert (
        "東信運転免許センター"
        not in clerk.get(reverse("admin:venues_receptionwindow_changelist")).content.decode()
    )
    assert "東信の休業" not in clerk.get(reverse("admin:venues_closure_changelist")).content.decode()
    assert "東信の記録" not in clerk.get(reverse("admin:venues_auditentry_changelist")).content.decode()
    assert clerk.get(reverse("admin:venues_venue_changelist")).context["cl"].result_count == 1


def test_another_venues_window_cannot_be_opened_or_changed(clerk):
    window = ReceptionWindow.objects.filter(venue__code="toshin-centre").first()
    url = reverse("admin:venues_receptionwindow_change", args=[window.pk])
    assert clerk.get(url).status_code == 302
    clerk.post(url, {"counters": 3, "reserved": 0})
    window.refresh_from_db()
    assert window.counters == 1


def test_a_closure_cannot_be_added_for_another_venue(clerk):
    toshin = Venue.objects.get(code="toshin-centre")
    response = clerk.post(
        reverse("admin:venues_closure_add"),
        {"venue": toshin.pk, "start_date": "2026-12-15", "note": "x", "confirm_cancel": "on"},
    )
    assert response.status_code == 200  # the form again, with the venue refused
    assert "venue" in response.context["adminform"].form.errors
    assert not Closure.objects.filter(venue=toshin).exists()


def test_another_venues_closure_cannot_be_opened_or_removed(clerk):
    closure = Closure.objects.create(
        venue=Venue.objects.get(code="toshin-centre"), start_date=TUESDAY, end_date=TUESDAY
    )
    assert clerk.get(reverse("admin:venues_closure_change", args=[closure.pk])).status_code == 302
    clerk.post(reverse("admin:venues_closure_delete", args=[closure.pk]), {"post": "yes"})
    assert Closure.objects.filter(pk=closure.pk).exists()


def test_a_prefecture_administrator_sees_every_venue(client, world):
    iida, toshin = world
    client.force_login(staff_user("pref-admin", admin=True))
    page = client.get(reverse("admin:bookings_booking_changelist")).content.decode()
    assert iida.reference in page and toshin.reference in page
    assert client.get(reverse("admin:bookings_booking_day"), {"venue": "toshin-centre"}).status_code == 200


def test_a_staff_user_with_no_venue_sees_nothing_and_is_told_so(client, world):
    client.force_login(staff_user("new-clerk"))
    message = "担当会場が設定されていない"
    assert message in client.get(reverse("admin:index")).content.decode()
    listing = client.get(reverse("admin:bookings_booking_changelist"))
    assert listing.context["cl"].result_count == 0
    assert message in listing.content.decode()
    assert message in client.get(reverse("admin:bookings_booking_day")).content.decode()
    assert client.get(reverse("admin:bookings_booking_export")).status_code == 200
    assert "予約番号" not in client.get(reverse("admin:bookings_booking_export")).content.decode()


def test_a_clerk_of_two_venues_can_switch_between_them(client, world):
    _, toshin = world
    client.force_login(staff_user("two-venues", "iida-station", "toshin-centre"))
    page = client.get(reverse("admin:bookings_booking_day"), {"venue": "toshin-centre"}).content.decode()
    assert toshin.reference in page
