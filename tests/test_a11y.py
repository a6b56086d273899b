"""axe-core (bundled by axe-playwright-python) on every resident page, in Japanese and in English at
390 × 844, and on the clerk's day, month, booking and closure pages: no serious or critical issue
(nor a skipped heading level).

One browser context per language walks the pages in order (each step needs the one before it in
the session), and every page's violations are gathered so that one run lists them all, page by
page, each with the elements it found them on. The Chromium set-up (and its skip without Chromium
or a Japanese font, its failure under CI=true) is `tests/test_browser.py`'s.
"""

from __future__ import annotations

import importlib
import re
from datetime import date

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from bookings.links import manage_path
from bookings.slots import slots_generate
from scheduler.clock import at_jst
from scheduler.rates import parse_rates
from tests.admin_setup import PASSWORD, staff_user
from tests.test_browser import PHONE, browser_parts, chromium, december, koban_booking
from venues.models import Venue

__all__ = ["browser_parts", "chromium", "december"]  # the fixtures, used by name below

pytestmark = [
    pytest.mark.browser,
    pytest.mark.xdist_group("browser"),
    pytest.mark.django_db(transaction=True),
]

axe_playwright = pytest.importorskip("axe_playwright_python.sync_playwright")

SERIOUS = {"serious", "critical"}
ALSO = {"heading-order"}  # moderate for axe, but a screen reader's outline of the page: kept at 0
MONDAY = date(2026, 12, 14)
DESKTOP = {"width": 1280, "height": 900}
LANGUAGES = {"ja": "ja-JP", "en": "en-GB"}


class Audit:
    """axe on each page visited; `problems` keeps the serious and critical violations per page."""

    def __init__(self, page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.axe = axe_playwright.Axe()
        self.problems: dict[str, list[str]] = {}
        self.pages: list[str] = []
        page.set_default_timeout(10_000)

    def open(self, path: str):
        return self.page.goto(self.base_url + path)

    def check(self, name: str) -> None:
        self.pages.append(name)
        results = self.axe.run(self.page)
        for violation in results.response["violations"]:
            if violation["impact"] in SERIOUS or violation["id"] in ALSO:
                targets = ", ".join(" ".join(map(str, node["target"])) for node in violation["nodes"])
                self.problems.setdefault(name, []).append(
                    f"{violation['id']} ({violation['impact']}): {violation['help']} — {targets}"
                )

    def report(self) -> str:
        return "\n".join(
            f"{name}:\n" + "\n".join(f"  - {line}" for line in lines) for name, lines in self.problems.items()
        )

    def submit(self) -> None:
        self.page.locator("main form:not(.lang) button.button.primary[type=submit]").first.click()


def fine(question: str) -> str:
    return "no" if question == "licence_suspended" else "yes"


def answer_all_fine(page) -> None:
    """Every question answered the way that lets the procedure go on (はい always means "fine",
    except on the older wording of the suspension question)."""
    names = page.locator("fieldset.question input[type=radio]").evaluate_all(
        "inputs => [...new Set(inputs.map(i => i.name))]"
    )
    for name in names:
        page.locator(f'input[name="{name}"][value="{fine(name)}"]').check()


def choose(page, procedure: str) -> None:
    page.locator(f'input[name="procedure"][value="{procedure}"]').check()


def choose_venue(page, code: str) -> None:
    page.locator(f'button[name="venue"][value="{code}"]').click()


def staff_roles() -> None:
    roles = importlib.import_module("venues.migrations.0002_staff_roles")
    staff, _ = Group.objects.get_or_create(name=roles.STAFF_GROUP)
    staff.permissions.set(
        Permission.objects.get(content_type__app_label=app, codename=codename)
        for app, codename in roles.STAFF_PERMISSIONS
    )


@pytest.fixture
def audit_context(chromium, live_server):
    contexts = []

    def open_context(language: str, viewport: dict) -> Audit:
        context = chromium.new_context(viewport=viewport, locale=LANGUAGES[language], has_touch=True)
        contexts.append(context)
        return Audit(context.new_page(), live_server.url)

    yield open_context
    for context in contexts:
        context.close()


@pytest.mark.parametrize("language", ["ja", "en"])
def test_every_resident_page_has_no_serious_or_critical_accessibility_issue(
    audit_context, december, settings, language
):
    audit = audit_context(language, PHONE)
    page = audit.page
    audit.open("/")
    if language == "en":
        page.locator('form.lang button[value="en"]').click()
    page.wait_for_function(f"document.documentElement.lang === '{language}'")
    audit.check("start")
    audit.open("/help/")
    audit.check("help")

    audit.open("/book/")
    audit.check("procedure")
    choose(page, "one-stop")
    audit.submit()
    page.wait_for_url(re.compile(r"/book/questions/$"))
    audit.check("questions (one-stop)")

    audit.open("/book/")
    choose(page, "re-record")
    audit.submit()
    page.locator('input[name="chip_ok"][value="no"]').check()
    for name in page.locator("fieldset.question input[type=radio]").evaluate_all(
        "inputs => [...new Set(inputs.map(i => i.name))].filter(n => n !== 'chip_ok')"
    ):
        page.locator(f'input[name="{name}"][value="{fine(name)}"]').check()
    audit.submit()
    page.locator(".stop").wait_for()
    audit.check("stop (ineligible)")

    audit.open("/book/")
    choose(page, "record")
    audit.submit()
    audit.check("questions (record)")
    answer_all_fine(page)
    audit.submit()
    page.wait_for_url(re.compile(r"/book/venue/$"))
    audit.check("venue (record)")

    audit.open("/book/")
    choose(page, "erase")
    audit.submit()
    page.wait_for_url(re.compile(r"/book/venue/$"))
    audit.check("venue (erase)")
    choose_venue(page, "maruko-koban")
    page.locator("table.calendar").wait_for()
    audit.check("date")
    page.locator(f'a[href*="day={MONDAY.isoformat()}"]').click()
    page.get_by_role("button", name=re.compile(r"^9:00")).wait_for()
    audit.check("date and times")
    times = page.url

    settings.CHALLENGE_SOFT_LIMIT = 0  # past it from the first hold; the check is kept unsolved
    page.route("**/api/v1/challenge/**", lambda route: route.abort())
    page.get_by_role("button", name=re.compile(r"^9:00")).click()
    page.locator("altcha-widget").wait_for()
    audit.check("challenge")
    settings.CHALLENGE_SOFT_LIMIT = None
    page.goto(times)
    page.get_by_role("button", name=re.compile(r"^9:00")).click()
    page.wait_for_url(re.compile(r"/book/contact/$"))
    audit.check("contact")
    audit.submit()
    page.locator(".error, [role=alert]").first.wait_for()
    audit.check("contact (with errors)")
    page.locator('input[name="name"]').fill("長野 太郎" if language == "ja" else "Alex Smith")
    page.locator('input[name="email"]').fill(f"{language}-resident@example.jp")
    audit.submit()
    page.wait_for_url(re.compile(r"/book/confirm/$"))
    audit.check("confirm")
    audit.submit()
    page.locator("#reference").wait_for()
    audit.check("done")

    created = koban_booking(at_jst(MONDAY, 10, 0), now=december, email=f"{language}-other@example.jp")
    reference = created.booking.reference
    audit.open(manage_path(reference, created.token))
    page.wait_for_url(re.compile(rf"/booking/{reference}/$"))
    audit.check("manage")
    audit.open(f"/booking/{reference}/reschedule/")
    audit.check("reschedule")
    audit.open(f"/booking/{reference}/cancel/")
    audit.check("cancel")

    audit.open("/booking/lookup/")
    audit.check("lookup")
    page.locator('input[name="reference"]').fill("ZZZZ2222")
    page.locator('input[name="phone_or_email"]').fill("nobody@example.jp")
    audit.submit()
    page.locator("form .error, [role=alert]").first.wait_for()
    audit.check("lookup (not found)")

    settings.THROTTLE_RATES = parse_rates("lookup=1/hour")
    for _ in range(3):  # the first may still be counted as this address's one of the hour
        with page.expect_response(lambda r: r.request.resource_type == "document") as answered:
            audit.submit()
        if answered.value.status == 429:
            break
    assert answered.value.status == 429
    audit.check("too many (429)")
    settings.THROTTLE_RATES = parse_rates("off")

    response = audit.open("/no-such-page/")
    assert response.status == 404
    audit.check("not found (404)")

    assert len(audit.pages) == 22
    assert not audit.problems, f"serious or critical axe violations ({language}):\n{audit.report()}"


def test_the_clerks_day_month_booking_and_closure_pages_have_no_serious_or_critical_issue(
    audit_context, nagano, travel
):
    now = travel(2026, 12, 14, 9, 0)
    slots_generate(now=now, venues=Venue.objects.filter(code="maruko-koban"))
    booking = koban_booking(at_jst(date(2026, 12, 15), 14, 0), now=now).booking
    staff_roles()  # the migration made them; the flush of an earlier test may have removed them
    staff_user("maruko-clerk", "maruko-koban")
    audit = audit_context("ja", DESKTOP)
    page = audit.page
    audit.open(reverse("admin:login"))
    page.locator("#id_username").fill("maruko-clerk")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("input[type=submit], button[type=submit]").last.click()
    page.wait_for_url(re.compile(r"/admin/$"))

    audit.open(f"{reverse('admin:bookings_booking_day')}?venue=maruko-koban&date=2026-12-15")
    audit.check("day")
    audit.open(f"{reverse('admin:bookings_slot_month')}?month=2026-12")
    audit.check("month")
    audit.open(f"{reverse('admin:bookings_booking_changelist')}?q={booking.reference}")
    audit.check("booking list (search)")
    audit.open(reverse("admin:bookings_booking_change", args=[booking.pk]))
    audit.check("booking change")
    audit.open(reverse("admin:venues_closure_add"))
    audit.check("closure (add)")
    venue = Venue.objects.get(code="maruko-koban")
    page.locator("#id_venue").select_option(str(venue.pk))
    page.locator("#id_start_date").fill("2026-12-15")
    page.locator("#id_start_time").fill("13:00")
    page.locator("#id_end_time").fill("17:00")
    page.locator("#id_note").fill("午後は臨時休業します")
    page.locator("input[name=_save], button[name=_save]").first.click()
    page.locator("#id_confirm_cancel").wait_for()
    audit.check("closure (confirmation)")
    page.locator("#id_confirm_cancel").check()
    page.locator("input[name=_save], button[name=_save]").first.click()
    page.wait_for_load_state()
    audit.check("after the closure (day)")

    assert not audit.problems, f"serious or critical axe violations (clerk):\n{audit.report()}"
