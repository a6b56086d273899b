"""A clerk's day at 飯田警察署 in Debian's Chromium, on a desktop-sized screen (the counter's PC): log
in, scan a reference and press Enter twice to check in, then start and finish the same way, see
another counter's step without touching the page, add a walk-in, close the afternoon and find the
people to phone on the closure's page.

The browser set-up (Chromium, the Japanese font, the skip outside CI) is `tests/test_browser.py`'s.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from bookings.models import Booking
from tests.admin_setup import PASSWORD, TUESDAY, book, generate, staff_user
from tests.test_browser import CHROMIUM_ARGS, browser_parts, chromium

__all__ = ["CHROMIUM_ARGS", "browser_parts", "chromium"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.xdist_group("browser"),
    pytest.mark.django_db(transaction=True),
]

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

DESKTOP = {"width": 1366, "height": 900}


def staff_roles() -> None:
    """The groups the migration made (a transactional test's flush may have removed them)."""
    roles = importlib.import_module("venues.migrations.0002_staff_roles")
    group, _ = Group.objects.get_or_create(name=roles.STAFF_GROUP)
    group.permissions.set(
        Permission.objects.get(content_type__app_label=app, codename=codename)
        for app, codename in roles.STAFF_PERMISSIONS
    )


class Counter:
    """One counter's browser page, with a screenshot per step and no console error allowed."""

    def __init__(self, page, base_url: str, folder: Path, name: str) -> None:
        self.page = page
        self.base_url = base_url
        self.folder = folder
        self.name = name
        self.shots = 0
        self.console_errors: list[str] = []
        page.set_default_timeout(10_000)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.console_errors.append(str(error)))

    def _console(self, msg) -> None:
        if msg.type == "error" and not msg.location.get("url", "").endswith("/favicon.ico"):
            self.console_errors.append(f"{msg.text} ({msg.location.get('url', '')})")  # the admin has none

    def open(self, path: str) -> None:
        self.page.goto(self.base_url + path)

    def log_in(self, username: str) -> None:
        self.open(reverse("admin:login"))
        self.page.locator("#id_username").fill(username)
        self.page.locator("#id_password").fill(PASSWORD)
        self.page.locator("#id_password").press("Enter")
        self.page.wait_for_url(re.compile(r"/admin/$"))

    def shot(self, name: str) -> None:
        assert self.console_errors == [], f"{name}: {self.console_errors}"
        self.shots += 1
        path = self.folder / f"{self.name}-{self.shots:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)

    def row(self, booking: Booking):
        return self.page.locator(f"#b-{booking.reference}")

    def scan(self, booking: Booking) -> None:
        """What a barcode scanner does: types the reference into the focused box, then Enter."""
        expect(self.page.locator("#q-lookup")).to_be_focused()
        self.page.keyboard.type(booking.reference)
        with self.page.expect_navigation():
            self.page.keyboard.press("Enter")

    def enter(self) -> None:
        with self.page.expect_navigation():
            self.page.keyboard.press("Enter")


@pytest.fixture
def counters(chromium, live_server, output_path):
    folder = Path(output_path)
    folder.mkdir(parents=True, exist_ok=True)
    contexts = []

    def open_counter(name: str) -> Counter:
        context = chromium.new_context(viewport=DESKTOP, locale="ja-JP")
        contexts.append(context)
        return Counter(context.new_page(), live_server.url, folder, name)

    yield open_counter
    for context in contexts:
        context.close()


@pytest.fixture
def tuesday(nagano, travel):
    generate("iida-station")
    people = {
        "hanako": book("iida-station", TUESDAY, 10, 30, name="飯田 花子", phone="0265-22-0001"),
        "taro": book("iida-station", TUESDAY, 10, 40, name="天竜 太郎", email="taro@example.jp"),
        "jiro": book("iida-station", TUESDAY, 14, 30, name="松川 次郎", phone="0265-33-0003"),
        "yuko": book("iida-station", TUESDAY, 15, 0, name="メール 有子", email="yuko@example.jp"),
    }
    travel(2026, 12, 15, 10, 25)
    staff_roles()
    staff_user("iida-clerk", "iida-station")
    staff_user("iida-clerk-2", "iida-station")
    return people


def test_a_clerks_morning_with_the_scanner_and_the_keyboard_then_closing_the_afternoon(counters, tuesday):
    hanako, taro, jiro = tuesday["hanako"], tuesday["taro"], tuesday["jiro"]
    day = f"{reverse('admin:bookings_booking_day')}?venue=iida-station"
    first = counters("counter-1")
    first.log_in("iida-clerk")
    page = first.page
    first.open(day)
    expect(page.get_by_role("heading", level=1)).to_contain_text("飯田警察署")
    expect(page.locator("#q-lookup")).to_be_focused()
    first.shot("day")

    # Scan, Enter (the scanner's), Enter (the clerk's): checked in.
    first.scan(hanako)
    check_in = first.row(hanako).get_by_role("button", name="受付")
    expect(check_in).to_be_focused()
    expect(first.row(hanako)).to_have_class(re.compile(r"\bhl\b"))
    first.shot("scanned")
    first.enter()
    expect(first.row(hanako).locator(".q-badge")).to_have_text("受付済み")
    expect(first.row(hanako)).to_have_class(re.compile(r"\bhl\b"))  # the highlight follows the row
    expect(page.locator("#q-lookup")).to_be_focused()  # ready for the next scan
    first.shot("checked-in")

    # The same two keys move her on: to the counter, then done.
    first.scan(hanako)
    expect(first.row(hanako).get_by_role("button", name="窓口へ")).to_be_focused()
    first.enter()
    expect(first.row(hanako).locator(".q-badge")).to_have_text("手続中")
    first.scan(hanako)
    expect(first.row(hanako).get_by_role("button", name="完了")).to_be_focused()
    first.enter()
    expect(first.row(hanako).locator(".q-badge")).to_have_text("完了")
    expect(page.locator("#q-lookup")).to_be_focused()
    first.shot("done")

    # Another counter checks 天竜 太郎 in: the first page shows it by itself.
    second = counters("counter-2")
    second.log_in("iida-clerk-2")
    second.open(day)
    second.row(taro).get_by_role("button", name="受付").click()
    expect(second.row(taro).locator(".q-badge")).to_have_text("受付済み")
    expect(first.row(taro).locator(".q-badge")).to_have_text("受付済み", timeout=20_000)
    expect(page.locator("#q-lookup")).to_be_focused()
    first.shot("seen-from-the-other-counter")

    # While the clerk types a walk-in, nothing reloads under their hands.
    walk_in = page.locator("#walk-in")
    walk_in.get_by_label("氏名").fill("窓口 来子")
    second.row(taro).get_by_role("button", name="窓口へ").click()
    expect(second.row(taro).locator(".q-badge")).to_have_text("手続中")
    page.wait_for_timeout(9_000)  # more than one poll
    expect(walk_in.get_by_label("氏名")).to_have_value("窓口 来子")
    eleven_twenty = walk_in.locator("select[name=start] option", has_text="11:20").get_attribute("value")
    walk_in.get_by_label("時刻").select_option(eleven_twenty)
    walk_in.get_by_label("手続").select_option("erase")
    walk_in.get_by_role("button", name="登録").click()
    expect(page.locator(".messagelist")).to_contain_text("窓口 来子")
    walk_in_booking = Booking.objects.get(name="窓口 来子")
    expect(first.row(walk_in_booking)).to_have_class(re.compile(r"\bhl\b"))
    expect(first.row(taro).locator(".q-badge")).to_have_text("手続中")  # the page is fresh again
    first.shot("walk-in")

    # The afternoon closes: a confirmation (not an error), then the people to phone stay listed.
    page.get_by_role("link", name="休業を登録").click()
    page.locator("#id_start_time").fill("13:00")
    page.locator("#id_end_time").fill("17:00")
    page.locator("#id_note").fill("午後は臨時休業します")
    page.locator("input[name=_save]").click()
    confirm = page.locator("#closure-confirm")
    expect(confirm).to_contain_text("2件の予約が会場都合で取り消されます")
    expect(confirm).to_contain_text("松川 次郎")
    expect(page.locator(".errornote")).to_have_count(0)
    first.shot("closure-confirm")
    page.locator("#id_confirm_cancel").check()
    page.locator("input[name=_save]").click()
    to_phone = page.locator("#to-phone")
    expect(to_phone).to_contain_text("松川 次郎")
    expect(to_phone).to_contain_text("0265330003")
    expect(to_phone).not_to_contain_text("メール 有子")
    first.shot("people-to-phone")
    page.reload()
    expect(page.locator("#to-phone")).to_contain_text(jiro.reference)  # kept, not a one-off message
    with page.expect_popup() as popup:
        page.locator("#to-phone").get_by_role("link", name="印刷用に開く").click()
    printable = popup.value
    expect(printable.get_by_role("heading", level=1)).to_contain_text("電話連絡の一覧")
    expect(printable.locator("table")).to_contain_text("松川 次郎")
    first.open(day)
    expect(first.row(jiro).locator(".q-badge")).to_have_text("会場都合の取消")
    first.shot("afternoon-closed")
    assert second.console_errors == []


def test_the_cancel_button_on_a_booking_asks_first_and_no_keeps_the_booking(counters, tuesday):
    hanako = tuesday["hanako"]
    counter = counters("cancel")
    counter.log_in("iida-clerk")
    counter.open(reverse("admin:bookings_booking_change", args=[hanako.pk]))
    cancel = counter.page.get_by_role("button", name="取消（ご本人の申し出）")
    asked: list[str] = []

    def answer(accept: bool):
        def handle(dialog) -> None:
            asked.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()

        return handle

    counter.page.once("dialog", answer(False))
    cancel.click()
    counter.page.wait_for_timeout(300)  # a dismissed dialog sends nothing: nothing to wait for
    assert asked == ["この予約を取り消します。よろしいですか？"]
    hanako.refresh_from_db()
    assert hanako.status == Booking.Status.CONFIRMED
    counter.page.once("dialog", answer(True))
    with counter.page.expect_navigation():
        cancel.click()
    hanako.refresh_from_db()
    assert hanako.status == Booking.Status.CANCELLED and len(asked) == 2
    counter.shot("cancelled")
