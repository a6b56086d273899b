"""A newcomer's first minute: `make run` prints a few lines, and a bad address shows the product's
own 404 page (also with DEBUG=1, as `make run` serves). The demo logins: tests/test_demo_staff.py;
the one-line console e-mail: tests/test_logs.py."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from django.test import Client

from venues.models import Procedure, Venue

pytestmark = pytest.mark.django_db


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(command: str, *args: str, stdout=None, **options) -> str:
    out = stdout or io.StringIO()
    call_command(command, *args, stdout=out, **options)
    return out.getvalue()


# --- The commands of `make run` ------------------------------------------------------------------


def active() -> int:
    return Venue.objects.filter(is_active=True).count()


def test_load_nagano_prints_one_line_with_the_venue_count(db):
    lines = run("load_nagano").splitlines()
    venues, procedures = Venue.objects.count(), Procedure.objects.count()
    assert len(lines) == 1 and venues > 20
    assert lines[0].startswith(f"load_nagano: {venues} venues, {procedures} procedures, ")
    assert re.fullmatch(r"load_nagano: .* \(\d+ created, \d+ updated, \d+ unchanged\)", lines[0])
    assert re.search(r"\(0 created, 0 updated, \d+ unchanged\)$", run("load_nagano"))


def test_load_nagano_lists_every_venue_and_change_with_v_2(db):
    out = run("load_nagano", verbosity=2)
    total = Venue.objects.count()
    assert f"  [1/{total}] hokushin-centre" in out and f"  [{total}/{total}] " in out
    assert "  + venue iida-station" in out
    assert out.splitlines()[-1].startswith(f"load_nagano: {total} venues")


def test_generate_slots_prints_one_line_with_the_venue_count(nagano, settings):
    settings.CLOCK_NOW = "2026-12-01T09:00:00+09:00"
    lines = run("generate_slots", "--days", "3").splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"generate_slots: {active()} venues, ")


def test_on_a_terminal_the_progress_is_one_line_that_updates_in_place_and_is_wiped(nagano, settings):
    settings.CLOCK_NOW = "2026-12-01T09:00:00+09:00"
    out = run("generate_slots", "--days", "1", stdout=Terminal())
    progress, summary = out.rsplit("\r", 1)
    total = active()
    assert out.count("\n") == 1  # the summary's: every step overwrote the one before
    assert f"\r[1/{total}] hokushin-centre:" in progress and f"\r[{total}/{total}] " in progress
    assert summary.startswith(f"generate_slots: {total} venues, ")


def test_nothing_is_printed_with_v_0(nagano, settings):
    settings.CLOCK_NOW = "2026-12-01T09:00:00+09:00"
    assert run("load_nagano", verbosity=0) == ""
    assert run("generate_slots", "--days", "1", verbosity=0, stdout=Terminal()) == ""


# --- The 404 page ---------------------------------------------------------------------------------


@pytest.mark.parametrize("debug", [False, True])
def test_a_bad_address_shows_the_products_own_404_page_even_with_debug_on(settings, debug):
    settings.DEBUG = debug
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "ページが見つかりません" in page and 'href="/"' in page
    assert "Using the URLconf" not in page and "technical_404" not in page
    assert "Content-Security-Policy" in response.headers


def test_the_404_page_speaks_english_after_the_switch(settings):
    settings.DEBUG = True
    client = Client()
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    page = client.get("/book/nowhere/").content.decode()
    assert "Page not found" in page and "Back to the start page" in page


def test_an_address_without_its_slash_still_goes_to_its_page(settings):
    settings.DEBUG = True
    response = Client().get("/help?x=1")
    assert (response.status_code, response["Location"]) == (301, "/help/?x=1")
    assert Client().get("/nothing-here").status_code == 404


def test_a_post_to_a_bad_address_is_a_404_not_a_csrf_refusal():
    client = Client(enforce_csrf_checks=True)
    assert client.post("/no-such-form/", {"a": "b"}).status_code == 404


def test_the_api_and_the_admin_keep_their_own_answers():
    client = Client()
    api = client.get("/api/v1/no-such-endpoint/")
    assert (api.status_code, api.json()["code"]) == (404, "not_found")
    assert client.get("/admin/").status_code == 302  # to the log-in page
