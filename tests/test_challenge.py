"""The proof of work (ALTCHA): asked by the pages past a soft limit, by the API with API_CHALLENGE=1;
a payload is accepted once, signed by us and unexpired."""

from __future__ import annotations

import base64
import json
import time

import altcha
import pytest
from django.test import Client
from rest_framework.test import APIClient

from bookings.models import Hold
from bookings.slots import slots_generate
from scheduler import challenge
from tests import builders
from tests.test_fair_shares import fresh_address

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def cheap_work(settings):
    """The real cost is a second of work; tests solve a small one, the rules are the same."""
    settings.CHALLENGE_COST = 20
    settings.CHALLENGE_MAX_COUNTER = 20


@pytest.fixture
def centre(db, travel):
    place = builders.venue(code="pow-centre", procedures=("record", "erase"), counters=5)
    slots_generate(now=travel(2026, 12, 1, 9, 0), venues=[place])
    return place


def seat(minute: int = 0) -> dict:
    return {"venue": "pow-centre", "procedure": "erase", "start": f"2026-12-14T10:{minute:02d}:00+09:00"}


def solved(client=None) -> str:
    """What the widget sends: a challenge fetched from the site, solved."""
    body = (client or Client()).get("/api/v1/challenge/").json()
    found = altcha.solve_challenge(altcha.Challenge.from_dict(body))
    return altcha.Payload(altcha.Challenge.from_dict(body), found).to_base64()


def tampered(payload: str) -> str:
    data = json.loads(base64.b64decode(payload))
    data["challenge"]["parameters"]["cost"] = 1  # cheaper work than we asked for
    return base64.b64encode(json.dumps(data).encode()).decode()


# --- The rules of a payload ---------------------------------------------------------------


def test_a_solved_challenge_is_accepted_once(db):
    payload = solved()
    assert challenge.check(payload) is None
    assert challenge.check(payload) == challenge.FAILED  # replayed


def test_a_missing_payload_is_required_and_a_wrong_one_fails(db):
    assert challenge.check(None) == challenge.REQUIRED
    assert challenge.check("") == challenge.REQUIRED
    assert challenge.check("not base64 at all") == challenge.FAILED
    assert challenge.check(tampered(solved())) == challenge.FAILED
    assert challenge.check("A" * 5000) == challenge.FAILED


def test_a_challenge_signed_with_another_key_fails(db, settings):
    payload = solved()
    settings.SECRET_KEY = "another-key-entirely-" + "x" * 40
    assert challenge.check(payload) == challenge.FAILED


def test_an_expired_challenge_fails(db, monkeypatch):
    payload = solved()
    later = time.time() + 601
    monkeypatch.setattr(altcha.v2.time, "time", lambda: later)
    assert challenge.check(payload) == challenge.FAILED


def test_the_challenge_endpoint_gives_a_fresh_signed_challenge_never_cached(db):
    first, second = Client().get("/api/v1/challenge/"), Client().get("/api/v1/challenge/")
    assert first.status_code == 200 and first["Cache-Control"] == "no-store"
    body = first.json()
    assert body["parameters"]["algorithm"] == "PBKDF2/SHA-256" and body["signature"]
    assert body["parameters"]["expiresAt"] > time.time()
    assert body["parameters"]["nonce"] != second.json()["parameters"]["nonce"]


# --- The pages: nothing asked below the soft limit, a check page above it ------------------


def to_date_page(client: Client) -> None:
    client.post("/book/", {"procedure": "erase"})
    client.get("/book/questions/")
    client.post("/book/venue/", {"venue": "pow-centre"})


def held_seats() -> int:
    return Hold.objects.filter(state=Hold.State.LIVE).count()


def test_below_the_soft_limit_the_pages_ask_nothing(centre, settings):
    settings.CHALLENGE_SOFT_LIMIT = 3
    client = Client(REMOTE_ADDR=fresh_address())
    to_date_page(client)
    for minute in (0, 10, 20):
        assert client.post("/book/date/", {"start": seat(minute)["start"]}).status_code == 302


def test_past_the_soft_limit_the_pages_ask_for_the_check_and_hold_nothing_until_it_is_done(centre, settings):
    settings.CHALLENGE_SOFT_LIMIT = 2
    client = Client(REMOTE_ADDR=fresh_address())
    to_date_page(client)
    for minute in (0, 10):
        assert client.post("/book/date/", {"start": seat(minute)["start"]}).status_code == 302
    before = held_seats()

    asked = client.post("/book/date/", {"start": seat(20)["start"]})
    page = asked.content.decode()
    assert asked.status_code == 403 and "操作の確認" in page
    assert "<altcha-widget" in page and 'value="2026-12-14T10:20:00+09:00"' in page  # the time is kept
    assert "JavaScript" in page  # the noscript note
    assert held_seats() == before

    wrong = client.post("/book/date/", {"start": seat(20)["start"], "altcha": tampered(solved(client))})
    assert wrong.status_code == 403 and "確認できませんでした" in wrong.content.decode()
    assert held_seats() == before

    payload = solved(client)
    done = client.post("/book/date/", {"start": seat(20)["start"], "altcha": payload})
    assert done.status_code == 302 and done["Location"].endswith("/book/contact/")
    assert client.session["book"]["start"].startswith("2026-12-14T10:20")

    replayed = client.post("/book/date/", {"start": seat(30)["start"], "altcha": payload})
    assert replayed.status_code == 403 and "確認できませんでした" in replayed.content.decode()


def test_the_soft_limit_is_per_address(centre, settings):
    settings.CHALLENGE_SOFT_LIMIT = 1
    first, second = Client(REMOTE_ADDR=fresh_address()), Client(REMOTE_ADDR=fresh_address())
    to_date_page(first)
    to_date_page(second)
    assert first.post("/book/date/", {"start": seat(0)["start"]}).status_code == 302
    assert first.post("/book/date/", {"start": seat(10)["start"]}).status_code == 403
    assert second.post("/book/date/", {"start": seat(10)["start"]}).status_code == 302


def test_the_check_page_carries_the_sites_own_widget_under_its_csp(centre, settings):
    settings.CHALLENGE_SOFT_LIMIT = 0
    client = Client(REMOTE_ADDR=fresh_address())
    to_date_page(client)
    asked = client.post("/book/date/", {"start": seat(0)["start"]})
    assert "script-src 'self'" in asked["Content-Security-Policy"]
    page = asked.content.decode()
    for path in ("/static/bookings/altcha/altcha.min.js", "/static/bookings/altcha/pbkdf2.js"):
        assert path in page
        assert client.get(path).status_code == 200
    assert "http://" not in page.split("<main", 1)[1].split("</main>")[0]  # no third-party address


# --- The API with API_CHALLENGE=1 ----------------------------------------------------------


def booking_body(**extra) -> dict:
    return {**seat(0), "name": "住民", "phone": f"090{time.time_ns() % 10**8:08d}", "email": "", **extra}


def test_without_api_challenge_the_api_asks_nothing(centre):
    api = APIClient(REMOTE_ADDR=fresh_address())
    assert api.post("/api/v1/holds/", seat(0), format="json").status_code == 201


@pytest.mark.parametrize(
    ("payload", "code"),
    [(None, "challenge_required"), ("garbage", "challenge_failed"), ("tampered", "challenge_failed")],
)
def test_with_api_challenge_a_hold_without_a_good_proof_is_refused_with_a_code(
    centre, settings, payload, code
):
    settings.API_CHALLENGE = True
    api = APIClient(REMOTE_ADDR=fresh_address())
    headers = {}
    if payload:
        headers["HTTP_X_ALTCHA"] = tampered(solved()) if payload == "tampered" else payload
    refused = api.post("/api/v1/holds/", seat(0), format="json", **headers)
    assert refused.status_code == 403 and refused.json()["code"] == code
    assert held_seats() == 0


def test_with_api_challenge_a_solved_proof_holds_once_and_the_hold_books_without_another(centre, settings):
    settings.API_CHALLENGE = True
    api = APIClient(REMOTE_ADDR=fresh_address())
    payload = solved()
    held = api.post("/api/v1/holds/", seat(0), format="json", HTTP_X_ALTCHA=payload)
    assert held.status_code == 201
    again = api.post("/api/v1/holds/", seat(10), format="json", HTTP_X_ALTCHA=payload)
    assert again.status_code == 403 and again.json()["code"] == "challenge_failed"
    body = {"hold": held.json()["hold"], "name": "住民", "phone": "09011112222", "email": ""}
    assert api.post("/api/v1/bookings/", body, format="json").status_code == 201


def test_with_api_challenge_a_booking_without_a_hold_needs_a_proof(centre, settings):
    settings.API_CHALLENGE = True
    api = APIClient(REMOTE_ADDR=fresh_address())
    refused = api.post("/api/v1/bookings/", booking_body(), format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "challenge_required"
    booked = api.post("/api/v1/bookings/", booking_body(), format="json", HTTP_X_ALTCHA=solved())
    assert booked.status_code == 201
