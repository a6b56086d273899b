"""End to end in Debian's Chromium, on a phone-sized screen: book, manage, stop, switch language.

Each page of a flow is saved as a screenshot in the test's output folder (test-results/…), and
every page is checked for what a phone user would notice: no sideways scrolling at 360 px,
tap targets (links included) at least 44 × 44 px, and no error in the browser console (a CSP
violation included).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest

from bookings.contact import Contact
from bookings.links import manage_path
from bookings.models import Booking, Slot
from bookings.services import booking_create
from bookings.slots import slots_generate
from scheduler.clock import at_jst
from venues.models import Procedure, Venue

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.xdist_group("browser"),
    pytest.mark.django_db(transaction=True),
]


def missing_browser_parts() -> list[str]:
    """What the browser tests need from Debian: Chromium, and a Japanese font for the screenshots."""
    missing = [] if CHROMIUM.exists() else ["Chromium at /usr/bin/chromium (apt-get install chromium)"]
    fc_list = shutil.which("fc-list")
    fonts = (
        subprocess.run([fc_list, ":lang=ja"], capture_output=True, text=True, check=False).stdout
        if fc_list
        else ""
    )
    if not fonts.strip():
        missing.append("a Japanese font (apt-get install fonts-noto-cjk)")
    return missing


@pytest.fixture(scope="module", autouse=True)
def browser_parts():
    """Skipped where Chromium or the font is missing, but failed under CI (CI=true), which installs
    both: a green CI run means these tests ran."""
    missing = missing_browser_parts()
    if missing and os.environ.get("CI") == "true":
        pytest.fail("browser tests need " + " and ".join(missing))
    if missing:
        pytest.skip("needs " + " and ".join(missing))


sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium, for this module only.

    While Playwright's sync API is started, this thread has a running event loop, and Django
    refuses ORM calls from such a thread unless DJANGO_ALLOW_ASYNC_UNSAFE is set. So both live
    exactly as long as this module's tests: the other tests of the same worker (and anything
    they start, such as `check --deploy`) see neither.
    """
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def december(nagano, travel):
    now = travel(2026, 12, 1, 9, 0)
    slots_generate(now=now, venues=Venue.objects.filter(code__in=["hokushin-centre", "maruko-koban"]))
    return now


class Phone:
    """The page, plus the checks and the screenshot taken on every page of a flow."""

    def __init__(self, page, base_url: str, folder: Path) -> None:
        self.page = page
        self.base_url = base_url
        self.folder = folder
        self.shots = 0
        self.console_errors: list[str] = []
        page.set_default_timeout(10_000)
        page.on("console", lambda msg: msg.type == "error" and self.console_errors.append(msg.text))
        page.on("pageerror", lambda error: self.console_errors.append(str(error)))

    def open(self, path: str) -> None:
        self.page.goto(self.base_url + path)

    def shot(self, name: str) -> None:
        page = self.page
        small_targets = page.evaluate(
            """() => [...document.querySelectorAll(
                    'a[href], button, .button, .choice, input:not([type=radio]), summary')]
                .filter(e => e.offsetParent !== null && !e.closest('.visually-hidden, .skip'))
                // A link inside a sentence is exempt (WCAG 2.5.8); one standing on its own is not.
                .filter(e => !(e.matches('a') && e.parentElement.matches('p, li, dd')
                               && e.parentElement.textContent.trim() !== e.textContent.trim()
                               && !e.matches('.change, .map-link, .tel, .back')))
                .filter(e => e.getBoundingClientRect().height < 44 || e.getBoundingClientRect().width < 44)
                .map(e => e.outerHTML.slice(0, 80))"""
        )
        assert small_targets == [], f"{name}: tap targets under 44 px: {small_targets}"
        page.set_viewport_size({"width": 360, "height": PHONE["height"]})
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        page.set_viewport_size(PHONE)
        assert overflow <= 0, f"{name}: the page scrolls sideways at 360 px"
        assert self.console_errors == [], f"{name}: {self.console_errors}"
        self.shots += 1
        page.screenshot(path=str(self.folder / f"{self.shots:02d}-{name}.png"), full_page=True)

    @contextmanager
    def answered_with(self, status: int) -> Iterator[None]:
        """The next page comes with this error status on purpose (409: the seat was taken meanwhile).

        Chromium logs any such page as a console error; that one line is expected, not a fault."""
        line = f"Failed to load resource: the server responded with a status of {status} "
        page = self.page
        with (
            page.expect_response(lambda response: response.request.resource_type == "document") as answer,
            page.expect_console_message(lambda msg: msg.text.startswith(line)),
        ):
            yield
        assert answer.value.status == status
        self.console_errors.remove(next(error for error in self.console_errors if error.startswith(line)))


@pytest.fixture
def phone(chromium, live_server, output_path):
    """A fresh phone-sized browser context (no cookies) on the live server, in Japanese."""
    folder = Path(output_path)
    folder.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(viewport=PHONE, locale="ja-JP", has_touch=True, accept_downloads=True)
    yield Phone(context.new_page(), live_server.url, folder)
    context.close()


MONDAY = date(2026, 12, 14)


def answer(page, question: str, choice: str) -> None:
    page.get_by_role("group", name=question).get_by_label(choice).check()


def to_the_koban_times(phone: Phone, day: date = MONDAY) -> None:
    """In Japanese: erasing the record (no questions to answer) at Maruko Koban, up to `day`'s times."""
    page = phone.page
    phone.open("/book/")
    page.get_by_label(re.compile("特定免許情報の記録抹消")).check()
    page.get_by_role("button", name="次へ").click()
    page.get_by_role("button", name=re.compile("^丸子交番を ?選ぶ$")).click()
    page.locator(f'a[href*="day={day.isoformat()}"]').click()


def fill_contact(page, name: str, email: str) -> None:
    page.get_by_label("お名前").fill(name)
    page.get_by_label("メールアドレス").fill(email)
    page.get_by_role("button", name="確認へ進む").click()


def koban_booking(start, *, now, name: str = "松本 次郎", email: str = "jiro@example.jp"):
    """A booking of someone else at Maruko Koban, made as the service makes any (`test_web_pages.made`)."""
    return booking_create(
        venue=Venue.objects.get(code="maruko-koban"),
        procedure=Procedure.objects.get(code="erase"),
        start=start,
        contact=Contact(name, "", email),
        answers={},
        now=now,
    )


def koban_slot(start) -> Slot:
    return Slot.objects.get(venue__code="maruko-koban", start=start)


def test_a_resident_books_record_at_a_licence_centre_then_cancels_it_from_the_manage_link(phone, december):
    page = phone.page
    phone.open("/")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.get_by_role("heading", level=1)).to_contain_text("窓口予約")
    phone.shot("start")

    page.get_by_role("link", name="予約する").click()
    page.get_by_label(re.compile("特定免許情報の記録（マイナンバーカードとの一体化）")).check()
    phone.shot("procedure")
    page.get_by_role("button", name="次へ").click()

    answer(page, "お持ちのマイナンバーカードは有効期限内ですか？", "はい")
    answer(page, "カードのICチップは壊れておらず、問題なく使えますか？", "はい")
    answer(page, "カードのICチップに、免許の情報を書き込む空きがありますか？", "はい")
    answer(page, "運転免許は、停止処分を受けずに使える状態ですか？", "はい")
    phone.shot("questions")
    page.get_by_role("button", name="次へ").click()

    expect(page.get_by_role("heading", name="北信", exact=True)).to_be_visible()
    expect(page.get_by_text("丸子交番")).to_have_count(0)  # a koban does not take `record`
    phone.shot("venue")
    page.get_by_role("button", name=re.compile("^北信運転免許センターを ?選ぶ$")).click()

    expect(page.locator("table.calendar caption")).to_have_text("2026年12月")
    phone.shot("calendar")
    page.locator('a[href*="day=2026-12-14"]').click()
    expect(page.get_by_role("heading", name="2026年12月14日（月） の時間")).to_be_visible()
    phone.shot("times")
    page.get_by_role("button", name=re.compile(r"^10:00")).click()

    page.get_by_label("お名前").fill("長野 太郎")
    page.get_by_label("電話番号").fill("090-1234-5678")
    page.get_by_label("メールアドレス").fill("taro@example.jp")
    phone.shot("contact")
    page.get_by_role("button", name="確認へ進む").click()

    expect(page.locator(".summary")).to_contain_text("2026年12月14日（月）10:00")
    phone.shot("confirm")
    page.get_by_role("button", name="予約する").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("予約が完了しました")
    reference = page.locator("#reference").inner_text()
    assert re.fullmatch(r"[A-Z2-9]{8}", reference)
    expect(page.locator(".qr-box svg")).to_be_visible()
    expect(page.get_by_text("北信運転免許センター").first).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="カレンダーに追加（.ics）").click()
    assert download.value.suggested_filename == f"{reference}.ics"
    phone.shot("done")

    manage_link = page.locator(".manage-link a")
    assert "token=" in manage_link.get_attribute("href")
    manage_link.click()
    page.wait_for_url(re.compile(rf"/booking/{reference}/$"))  # the token leaves the address bar
    expect(page.locator(".status")).to_contain_text("予約済み")
    phone.shot("manage")

    page.get_by_role("link", name="予約を取り消す").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("この予約を取り消しますか？")
    phone.shot("cancel-confirm")
    page.get_by_role("button", name="取り消す", exact=True).click()

    expect(page.locator(".message")).to_have_text("予約を取り消しました。")
    expect(page.locator(".status")).to_contain_text("取消")
    phone.shot("cancelled")
    assert Booking.objects.get(reference=reference).status == "cancelled"


def test_an_answer_that_rules_the_procedure_out_stops_before_any_venue_is_offered(phone, december):
    page = phone.page
    phone.open("/book/")
    page.get_by_label(re.compile("特定免許情報の再記録")).check()
    page.get_by_role("button", name="次へ").click()
    answer(page, "お持ちのマイナンバーカードは有効期限内ですか？", "はい")
    answer(page, "カードのICチップは壊れておらず、問題なく使えますか？", "いいえ")
    answer(page, "カードのICチップに、免許の情報を書き込む空きがありますか？", "はい")
    answer(page, "運転免許は、停止処分を受けずに使える状態ですか？", "はい")
    page.get_by_role("button", name="次へ").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("今は予約できません")
    expect(page.locator(".stop")).to_contain_text("市区町村でカードを再発行してから予約するか")
    expect(page.get_by_role("button", name=re.compile("選ぶ"))).to_have_count(0)
    phone.shot("stopped")
    phone.open("/book/venue/")
    assert page.url.endswith("/book/questions/")
    assert not Booking.objects.exists()


def test_in_english_a_resident_books_at_a_koban_and_moves_the_visit_to_another_day(phone, december):
    page = phone.page
    phone.open("/")
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Book a visit for your My Number Card and driving licence"
    )
    expect(page.get_by_text("Record the licence on the My Number Card")).to_be_visible()
    phone.shot("start-en")

    page.get_by_role("link", name="Book", exact=True).click()
    page.get_by_label(re.compile("Erase the licence record from the card")).check()
    page.get_by_role("button", name="Next").click()
    expect(page.locator(".only-note")).to_contain_text(
        "licence kobans handle only erasing the licence record"
    )
    phone.shot("venue-en")
    page.get_by_role("button", name=re.compile("^Choose ?Maruko Koban$")).click()

    expect(page.locator("table.calendar caption")).to_have_text("December 2026")
    page.locator('a[href*="day=2026-12-14"]').click()
    page.get_by_role("button", name=re.compile(r"^9:00")).click()
    page.get_by_label("Name").fill("Alex Smith")
    page.get_by_label("Email address").fill("alex@example.com")
    page.get_by_role("button", name="Continue to check").click()
    page.get_by_role("button", name="Book").click()

    expect(page.locator(".summary .when")).to_have_text("Mon 14 December 2026, 9:00–9:10")
    phone.shot("done-en")
    reference = page.locator("#reference").inner_text()
    page.locator(".manage-link a").click()
    page.get_by_role("link", name="Change the date or time").click()
    page.locator('a[href*="day=2026-12-15"]').click()
    phone.shot("reschedule-en")
    page.get_by_role("button", name=re.compile(r"^13:00")).click()

    # Nothing moves on that tap: a confirm page shows old → new (its labels are not all in the
    # English catalogue yet, so the button is found by what it sends, not by its words).
    expect(page.locator(".summary.move")).to_contain_text("Mon 14 December 2026, 9:00–9:10")
    expect(page.locator(".summary.move")).to_contain_text("Tue 15 December 2026, 13:00–13:10")
    phone.shot("reschedule-confirm-en")
    page.locator('button[name="action"][value="move"]').click()

    expect(page.locator(".message")).to_have_text("The date and time of your booking have been changed.")
    expect(page.locator(".summary .when")).to_have_text("Tue 15 December 2026, 13:00–13:10")
    phone.shot("rescheduled-en")
    booking = Booking.objects.get(reference=reference)
    assert (booking.language, booking.start) == ("en", at_jst(date(2026, 12, 15), 13, 0))


def test_the_chosen_time_is_held_while_the_form_is_filled_and_confirming_books_that_same_seat(
    phone, december
):
    page = phone.page
    to_the_koban_times(phone)
    page.get_by_role("button", name=re.compile(r"^9:00")).click()

    expect(page.get_by_role("heading", level=1)).to_have_text("連絡先を入力してください")
    expect(page.locator(".hold-note")).to_have_text("選んだ時間の席を 9:10 まで確保しています。")
    phone.shot("contact-held")
    nine = at_jst(MONDAY, 9, 0)
    assert koban_slot(nine).taken == 1  # held: nobody else can take it meanwhile
    fill_contact(page, "長野 太郎", "taro@example.jp")

    expect(page.locator(".hold-note")).to_have_text("選んだ時間の席を 9:10 まで確保しています。")
    expect(page.locator(".summary")).to_contain_text("2026年12月14日（月）9:00–9:10")
    phone.shot("confirm-held")
    page.get_by_role("button", name="予約する").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("予約が完了しました")
    reference = page.locator("#reference").inner_text()
    expect(page.locator(".summary .when")).to_have_text("2026年12月14日（月）9:00–9:10")
    phone.shot("done")
    page.go_back()  # back to the confirm page's address: it shows the booking made, not a second one
    expect(page.get_by_role("heading", level=1)).to_have_text("予約が完了しました")
    expect(page.locator("#reference")).to_have_text(reference)
    assert koban_slot(nine).taken == 1  # the hold's seat became the booking's, not a second seat
    assert list(Booking.objects.values_list("reference", "start")) == [(reference, nine)]


def test_when_the_held_seat_ran_out_and_someone_took_it_the_resident_picks_a_near_time_and_books(
    phone, december, travel
):
    page = phone.page
    to_the_koban_times(phone)
    page.get_by_role("button", name=re.compile(r"^9:00")).click()
    fill_contact(page, "長野 太郎", "taro@example.jp")
    expect(page.locator(".hold-note")).to_have_text("選んだ時間の席を 9:10 まで確保しています。")

    later = travel(2026, 12, 1, 9, 11)  # the hold ran out; another resident books 9:00 meanwhile
    nine = at_jst(MONDAY, 9, 0)
    other = koban_booking(nine, now=later).booking
    with phone.answered_with(409):
        page.get_by_role("button", name="予約する").click()

    expect(page.get_by_role("alert")).to_contain_text("選んだ時間は、ほかの方の予約で満席になりました")
    expect(page.get_by_text("入力した内容はそのまま残っています。")).to_be_visible()
    expect(page.get_by_role("button", name="予約する")).to_have_count(0)
    nearby = page.locator("button.time.wide")
    expect(nearby.first).to_have_text("2026年12月14日（月）9:10")
    expect(nearby.filter(has_text="（月）9:00")).to_have_count(0)
    phone.shot("seat-taken")
    nearby.first.click()

    expect(page.get_by_role("heading", level=1)).to_have_text("この内容で予約しますか？")
    expect(page.locator(".hold-note")).to_have_text("選んだ時間の席を 9:21 まで確保しています。")
    expect(page.locator(".summary")).to_contain_text("2026年12月14日（月）9:10–9:20")
    expect(page.locator(".summary")).to_contain_text("長野 太郎")  # nothing to type again
    phone.shot("confirm-near-time")
    page.get_by_role("button", name="予約する").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("予約が完了しました")
    expect(page.locator(".summary .when")).to_have_text("2026年12月14日（月）9:10–9:20")
    phone.shot("done-near-time")
    mine = Booking.objects.get(reference=page.locator("#reference").inner_text())
    assert (mine.start, mine.name) == (at_jst(MONDAY, 9, 10), "長野 太郎")
    assert Booking.objects.get(pk=other.pk).start == nine
    assert (koban_slot(nine).taken, koban_slot(at_jst(MONDAY, 9, 10)).taken) == (1, 1)


def test_rescheduling_asks_before_it_moves_and_only_this_date_button_moves_the_booking(phone, december):
    page = phone.page
    created = koban_booking(at_jst(MONDAY, 9, 0), now=december)
    reference = created.booking.reference
    phone.open(manage_path(reference, created.token))
    page.get_by_role("link", name="日時を変更する").click()
    page.locator('a[href*="day=2026-12-15"]').click()
    page.get_by_role("button", name=re.compile(r"^13:00")).click()

    expect(page.get_by_role("heading", level=1)).to_have_text("この日時に変更しますか？")
    move = page.locator(".summary.move")
    expect(move.locator("s")).to_have_text("2026年12月14日（月）9:00–9:10")  # old, struck through
    expect(move.locator("strong")).to_have_text("2026年12月15日（火）13:00–13:10")  # new
    expect(page.locator(".hold-note")).to_have_text("選んだ時間の席を 9:10 まで確保しています。")
    expect(page.get_by_role("button", name="変更しないで戻る")).to_be_visible()
    phone.shot("reschedule-confirm")
    assert Booking.objects.get(reference=reference).start == at_jst(MONDAY, 9, 0)  # not moved yet
    page.get_by_role("button", name="この日時に変更する").click()

    page.wait_for_url(re.compile(rf"/booking/{reference}/$"))
    expect(page.locator(".message")).to_have_text("予約の日時を変更しました。")
    expect(page.locator(".summary .when")).to_have_text("2026年12月15日（火）13:00–13:10")
    phone.shot("rescheduled")
    assert Booking.objects.get(reference=reference).start == at_jst(date(2026, 12, 15), 13, 0)


def test_past_the_soft_limit_the_check_solves_itself_in_the_browser_and_the_chosen_seat_is_held(
    phone, december, settings
):
    settings.CHALLENGE_SOFT_LIMIT = 0  # this browser's address is past it from the first hold
    settings.CHALLENGE_COST, settings.CHALLENGE_MAX_COUNTER = 200, 100
    page = phone.page

    def late(route):  # a slow network: the widget has its challenge before the site's script runs
        page.wait_for_timeout(1_500)
        route.continue_()

    page.route("**/bookings/challenge.js", late)
    to_the_koban_times(phone)
    with phone.answered_with(403):
        page.get_by_role("button", name=re.compile(r"^9:00")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("操作の確認")
    # The site's own widget fetches a challenge, its worker solves it, and the form goes on alone.
    expect(page.get_by_role("heading", level=1)).to_have_text("連絡先を入力してください", timeout=30_000)
    expect(page.locator(".hold-note")).to_have_text("選んだ時間の席を 9:10 まで確保しています。")
    assert koban_slot(at_jst(MONDAY, 9, 0)).taken == 1
    phone.shot("contact-after-check")


def test_a_contact_form_with_several_mistakes_lists_them_all_in_a_focused_summary_then_books(phone, december):
    page = phone.page
    to_the_koban_times(phone)
    expect(page.locator(".times-part")).to_have_text(["午前", "午後"])
    page.get_by_role("button", name=re.compile(r"^9:00")).click()
    expect(page.locator(".steps")).to_have_text("ステップ 4 / 5")  # erase asks no questions
    page.get_by_label("お名前").fill("長" * 61)  # not cut at 60 by the browser: said so instead
    page.get_by_label("電話番号").fill("12345")
    page.get_by_label("メールアドレス").fill("jiro@")
    page.get_by_role("button", name="確認へ進む").click()

    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_have_attribute("role", "alert")
    expect(summary.get_by_role("link")).to_have_count(3)
    phone.shot("contact-errors")
    summary.get_by_role("link", name=re.compile("電話番号は")).click()
    assert page.url.endswith("#id_phone")
    described = page.get_by_label("電話番号").get_attribute("aria-describedby").split()
    assert described == ["id_phone_helptext", "id_phone_error"]
    for target in described:
        expect(page.locator(f"#{target}")).to_be_visible()

    page.get_by_label("お名前").fill("松本 次郎")
    page.get_by_label("電話番号").fill("0268-22-0110")
    page.get_by_label("メールアドレス").fill("")
    page.get_by_role("button", name="確認へ進む").click()
    expect(page.locator(".steps")).to_have_text("ステップ 5 / 5")
    expect(page.locator(".summary")).to_contain_text("0268-22-0110")
    phone.shot("confirm-after-errors")


def test_the_erase_venue_list_is_grouped_by_area_with_map_and_phone_links_big_enough_to_tap(phone, nagano):
    page = phone.page
    phone.open("/book/")
    page.get_by_label(re.compile("特定免許情報の記録抹消")).check()
    page.get_by_role("button", name="次へ").click()
    expect(page.locator(".steps")).to_have_text("ステップ 2 / 5")
    expect(page.locator("section.area > h2")).to_have_text(["北信", "東信", "中信", "南信"])
    expect(page.locator(".only-note")).to_have_count(1)
    expect(page.locator(".card.venue")).to_have_count(28)
    expect(page.locator(".card.venue .map-link")).to_have_count(28)
    link = page.locator(".card.venue", has_text="長野中央警察署").get_by_role(
        "link", name=re.compile("^地図")
    )
    expect(link).to_have_accessible_name(re.compile("長野中央警察署"))
    assert link.get_attribute("href").startswith("https://www.google.com/maps/search/?api=1&query=")
    assert link.get_attribute("target") is None
    phone.shot("erase-venues")  # every link, phone and map ones included, is at least 44 × 44 px


@pytest.mark.parametrize("language", ["ja", "en"])
def test_the_start_help_and_lookup_pages_have_big_enough_links_and_say_whose_site_it_is(
    phone, nagano, language
):
    page = phone.page
    phone.open("/")
    if language == "en":
        page.get_by_role("button", name="English").click()
    owner = "運営：長野県警察" if language == "ja" else "Run by the Nagano Prefectural Police"
    for path in ("/", "/help/", "/booking/lookup/"):
        phone.open(path)
        expect(page.locator(".site-footer .owner")).to_contain_text(owner)
        expect(page.locator(".site-footer a.tel").first).to_have_attribute("href", "tel:0262922345")
        phone.shot(f"{language}{path.replace('/', '-')}")
    phone.open("/")
    # the "after booking" links stand as blocks: no bullet left beside a wrapped line
    for item in page.locator("ul.links li").all():
        assert item.evaluate("e => getComputedStyle(e).listStyleType") == "none"
