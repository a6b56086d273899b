"""Screenshots of a clerk's day in the admin (docs/walkthrough/*.png).

Runs a dev server on a temporary SQLite database with the clock pinned to Tuesday 15 December 2026,
10:25 JST, a clerk of 飯田警察署 and a few bookings made through the services; then drives Chromium
(Playwright) through: login, the admin index, the day page, checking someone in, a walk-in, and
closing the afternoon.

    .venv/bin/python docs/walkthrough/take_screenshots.py            # Debian's /usr/bin/chromium
    CHROMIUM=/path/to/chrome .venv/bin/python docs/walkthrough/take_screenshots.py
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
]
CLOCK_NOW = "2026-12-15T10:25:00+09:00"
USERNAME, PASSWORD = "iida-clerk", "walkthrough-pass-2026"

SETUP = f"""
import django
django.setup()
from datetime import date
from django.contrib.auth.models import Group, User
from bookings import services
from bookings.contact import Contact
from bookings.slots import slots_generate
from scheduler.clock import at_jst
from venues.models import Procedure, StaffMembership, Venue
from venues.scoping import STAFF_GROUP

iida = Venue.objects.get(code="iida-station")
slots_generate(now=at_jst(date(2026, 12, 14), 8), venues=[iida], days=14)
user = User.objects.create_user({USERNAME!r}, password={PASSWORD!r}, is_staff=True, last_name="飯田署 窓口")
user.groups.add(Group.objects.get(name=STAFF_GROUP))
StaffMembership.objects.create(user=user, venue=iida)
answers = {{"card_valid": True, "chip_ok": True, "licence_suspended": False}}
people = [
    (10, 30, "飯田 花子", "09011110001", "hanako@example.jp", "record"),
    (10, 40, "天竜 太郎", "09011110002", "", "holding-change"),
    (10, 50, "松川 次郎", "09011110003", "jiro@example.jp", "erase"),
    (11, 0, "阿智 三郎", "09011110004", "", "record"),
    (14, 30, "高森 四郎", "09011110005", "shiro@example.jp", "re-record"),
    (14, 50, "喬木 五子", "09011110006", "", "record"),
    (15, 10, "豊丘 六美", "09011110007", "mutsumi@example.jp", "portal-link"),
]
for hour, minute, name, phone, email, code in people:
    procedure = Procedure.objects.get(code=code)
    services.booking_create(
        venue=iida, procedure=procedure, start=at_jst(date(2026, 12, 15), hour, minute),
        contact=Contact(name=name, phone=phone, email=email),
        answers=answers if code in ("record", "re-record", "portal-link") else {{}},
        now=at_jst(date(2026, 12, 14), 10),
    )
print("set up")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 -- our own dev server
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer")


def shot(page: Page, name: str) -> None:
    path = OUT / f"{name}.png"
    page.screenshot(path=str(path))
    print(f"{path.relative_to(ROOT)}: {path.stat().st_size // 1024} kB")


def walk(page: Page, base: str) -> None:
    page.goto(f"{base}/admin/login/?next=/admin/")
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", PASSWORD)
    shot(page, "01-login")
    page.click("input[type=submit]")
    page.wait_for_selector("#queue-home")
    shot(page, "02-index")

    page.click("text=今日の窓口")
    page.wait_for_selector("table.q-table")
    shot(page, "03-day-page")

    # A resident shows the QR code of their booking: the scanner types the reference + Enter.
    reference = page.locator("tr.st-confirmed td.q-ref a").first.inner_text()
    page.fill("input[name=q]", reference)
    page.press("input[name=q]", "Enter")
    page.wait_for_selector("tr.hl")
    page.click("tr.hl button.check_in")
    page.wait_for_selector("tr.hl.st-checked_in")
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "04-checked-in")

    page.select_option("#walk-in select[name=start]", index=1)
    page.select_option("#walk-in select[name=procedure]", "erase")
    page.fill("#walk-in input[name=name]", "当日 来子")
    page.click("#walk-in button[type=submit]")
    page.wait_for_selector("tr.hl")
    page.evaluate("document.querySelector('tr.hl').scrollIntoView({block: 'center'})")
    shot(page, "05-walk-in")

    page.click("text=休業を登録")
    page.fill("#id_start_time", "13:00")
    page.fill("#id_end_time", "17:00")
    page.fill("#id_note", "午後は設備点検のため受付を休止します")
    page.click("input[name=_save]")
    page.wait_for_selector(".errorlist")
    page.check("#id_confirm_cancel")
    shot(page, "06-close-afternoon-confirm")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist")
    shot(page, "07-afternoon-closed")
    page.evaluate("document.querySelector('tr.q-slot.withdrawn').scrollIntoView({block: 'center'})")
    shot(page, "08-day-after-closure")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{tmp}/walkthrough.sqlite3",
            "DEBUG": "1",
            "CLOCK_NOW": CLOCK_NOW,
            "REDIS_URL": "",
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "scheduler.settings",
        }
        python = sys.executable
        for command in (["migrate", "--noinput"], ["load_nagano"]):
            subprocess.run(  # noqa: S603
                [python, "manage.py", *command], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
            )
        subprocess.run([python, "-c", SETUP], cwd=ROOT, env=env, check=True)  # noqa: S603
        port = free_port()
        server = subprocess.Popen(  # noqa: S603
            [python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for(f"{base}/admin/login/")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                context = browser.new_context(
                    viewport={"width": 1000, "height": 800}, locale="ja-JP", timezone_id="Asia/Tokyo"
                )
                context.add_init_script("localStorage.setItem('django.admin.navSidebarIsOpen', 'false')")
                walk(context.new_page(), base)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
