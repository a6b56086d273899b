"""The resident pages, through Django's test client: the flow, its stops, managing, i18n, costs."""

from __future__ import annotations

import re
import uuid
from datetime import date, time

import pytest
from django.test import Client

from bookings import views
from bookings.contact import Contact
from bookings.ics import booking_ics
from bookings.models import Booking, Hold, Slot
from bookings.services import booking_create
from bookings.slots import slots_generate
from scheduler.clock import at_jst, local
from tests import builders
from venues.models import Procedure, Venue

pytestmark = pytest.mark.django_db

MONDAY = date(2026, 12, 14)
START = at_jst(MONDAY, 10, 0)
# はい is always the fine answer on the page (the licence question is asked the other way round).
CARD_OK = {"card_valid": "yes", "chip_ok": "yes", "chip_has_space": "yes", "licence_not_suspended": "yes"}
CONTACT = {"name": "長野 太郎", "phone": "090-1234-5678", "email": "taro@example.jp"}


@pytest.fixture
def december(nagano, travel):
    now = travel(2026, 12, 1, 9, 0)
    slots_generate(now=now, venues=Venue.objects.filter(code="hokushin-centre"))
    return now


@pytest.fixture
def client():
    # A fresh address per test: the lookup limit counts per IP in a cache that CI shares.
    return Client(REMOTE_ADDR=f"198.51.100.{uuid.uuid4().int % 250 + 1}")


def post(client, url, data, *, follow=False):
    response = client.post(url, data, follow=follow)
    location = response.headers.get("Location", "")
    for value in ("長野", "taro", "1234"):
        assert value not in location, f"personal data in a URL: {location}"
    return response


def walk(client, *, procedure="record", answers=None, venue="hokushin-centre", start=START, contact=None):
    """Go through the flow up to the confirm page; each step must send to the next."""
    assert post(client, "/book/", {"procedure": procedure}).url == "/book/questions/"
    if answers is None:
        answers = CARD_OK if procedure != "erase" else {}
    if answers:
        assert post(client, "/book/questions/", answers).url == "/book/venue/"
    else:
        assert client.get("/book/questions/").url == "/book/venue/"
    assert post(client, "/book/venue/", {"venue": venue}).url == "/book/date/"
    assert post(client, "/book/date/", {"start": local(start).isoformat()}).url == "/book/contact/"
    assert post(client, "/book/contact/", contact or CONTACT).url == "/book/confirm/"


def book(client, **kwargs) -> Booking:
    walk(client, **kwargs)
    response = post(client, "/book/confirm/", {})
    assert response.url == "/book/done/"
    return Booking.objects.get(reference=client.session[views.BOOKED]["reference"])


def made(**fields) -> tuple[Booking, str]:
    venue = Venue.objects.get(code=fields.pop("venue", "hokushin-centre"))
    procedure = Procedure.objects.get(code=fields.pop("procedure", "record"))
    created = booking_create(
        venue=venue,
        procedure=procedure,
        start=fields.pop("start", START),
        contact=Contact("長野 花子", "0261234567", "hanako@example.jp"),
        answers={"card_valid": True, "chip_ok": True, "licence_suspended": False},
        now=fields.pop("now", at_jst(date(2026, 12, 1), 9)),
    )
    return created.booking, created.token


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def shown(response) -> str:
    """What a person reads: the page's text without its tags (nor the random CSRF token in a
    hidden input's value, which can spell any two letters)."""
    return re.sub(r"<[^>]*>", " ", text(response))


# --- Start, help, headers -----------------------------------------------------------------


def test_the_start_page_lists_the_six_procedures_in_plain_words_with_a_booking_button(client, nagano):
    page = text(client.get("/"))
    for procedure in Procedure.objects.all():
        assert procedure.name in page and procedure.summary in page
    assert 'href="/book/"' in page and "予約する" in page
    assert 'href="/booking/lookup/"' in page and 'href="/help/"' in page
    assert "マイナンバーカード" in page and "暗証番号" in page


def test_every_resident_page_has_a_strict_content_security_policy_and_no_inline_code(client, nagano):
    response = client.get("/")
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    body = response.content.decode()
    assert "<script" not in body and "style=" not in body and "<style" not in body


def test_the_help_page_answers_the_questions_residents_ask(client, db):
    page = text(client.get("/help/"))
    for words in ("見た目", "有効期限", "なくした", "ゴールド", "はがき", "白黒の顔写真", "再記録"):
        assert words in page


def test_the_language_switch_shows_the_pages_in_english(client, nagano):
    switched = client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert switched.status_code == 302
    page = text(client.get("/"))
    assert 'lang="en"' in page
    assert "Book a visit" in page and "Record the licence on the My Number Card" in page
    assert "予約する" not in page.replace('lang="ja">日本語', "")


def test_an_unknown_address_gets_a_page_in_the_site_layout(client, db):
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and "ページが見つかりません" in text(response)
    assert 'action="/i18n/setlang/"' in text(response)


def test_forms_refuse_a_post_without_the_csrf_token(nagano):
    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/book/", {"procedure": "record"}).status_code == 403
    assert strict.post("/booking/lookup/", {"reference": "X", "phone_or_email": "y"}).status_code == 403


# --- The booking flow -------------------------------------------------------------------------


def test_a_resident_books_record_from_the_start_page_to_the_done_page(client, december):
    booking = book(client)
    assert (booking.venue.code, booking.procedure.code, booking.start) == ("hokushin-centre", "record", START)
    assert (booking.name, booking.phone, booking.email, booking.language) == (
        "長野 太郎",
        "09012345678",
        "taro@example.jp",
        "ja",
    )
    assert booking.answers == {
        "card_valid": True,
        "chip_ok": True,
        "chip_has_space": True,
        "licence_suspended": False,
    }

    page = text(client.get("/book/done/"))
    assert f'<p class="reference" id="reference">{booking.reference}</p>' in page
    assert "2026年12月14日（月）10:00" in page and "北信運転免許センター" in page
    assert '<svg viewBox="' in page and 'class="qr"' in page
    assert f'href="/booking/{booking.reference}/calendar.ics"' in page
    assert re.search(rf'href="/booking/{booking.reference}/\?token=[\w-]{{40,}}"', page)
    assert "マイナンバーカード" in page and "運転免許証" in page
    assert views.FLOW not in client.session  # the typed contact leaves the session


def test_the_questions_are_only_those_the_procedure_needs(client, nagano):
    post(client, "/book/", {"procedure": "record"})
    page = text(client.get("/book/questions/"))
    assert page.count("<fieldset") == 4 and "<legend>" in page and "有効期限内" in page
    assert "暗証番号" not in page.split("<main")[1].split("</form>")[0]

    post(client, "/book/", {"procedure": "one-stop"})
    page = text(client.get("/book/questions/"))
    assert page.count("<fieldset") == 7 and "暗証番号（6〜16桁の英数字）を覚えていますか" in page

    post(client, "/book/", {"procedure": "erase"})
    assert client.get("/book/questions/").url == "/book/venue/"


def test_an_answer_that_rules_the_procedure_out_stops_the_flow_with_what_to_do(client, december):
    post(client, "/book/", {"procedure": "record"})
    response = post(client, "/book/questions/", {**CARD_OK, "card_valid": "no"})
    page = text(response)
    assert response.status_code == 200 and "今は予約できません" in page
    assert "先にお住まいの市区町村でカードの更新をしてから、予約してください。" in page
    assert client.get("/book/venue/").url == "/book/questions/"  # no way round it


def test_a_damaged_chip_says_to_reissue_the_card_or_ask_for_a_physical_licence(client, nagano):
    post(client, "/book/", {"procedure": "re-record"})
    page = text(post(client, "/book/questions/", {**CARD_OK, "chip_ok": "no"}))
    assert "再発行" in page and "免許証の交付" in page


def test_choosing_no_procedure_says_to_choose_one(client, nagano):
    response = post(client, "/book/", {})
    assert response.status_code == 200 and "手続を選んでください。" in text(response)


def test_an_unanswered_question_is_asked_again(client, nagano):
    post(client, "/book/", {"procedure": "record"})
    response = post(client, "/book/questions/", {"card_valid": "yes"})
    assert response.status_code == 200
    assert text(response).count("「はい」か「いいえ」を選んでください。") == 2


ONE_STOP_YES = {
    field: "yes"
    for field in (
        "card_valid",
        "chip_ok",
        "chip_has_space",
        "licence_not_suspended",
        "card_only",
        "signature_cert_valid",
        "knows_signature_pin",
    )
}


def test_every_question_reads_the_same_way_round_so_that_yes_is_always_the_fine_answer(client, nagano):
    post(client, "/book/", {"procedure": "one-stop"})
    page = text(client.get("/book/questions/"))
    assert "停止処分を受けていますか" not in page and "停止処分を受けずに使える状態ですか" in page
    assert post(client, "/book/questions/", ONE_STOP_YES).url == "/book/venue/"
    # The page's wording is turned round, the API's key keeps its meaning (api.md).
    assert client.session[views.FLOW]["answers"] == {
        "card_valid": True,
        "chip_ok": True,
        "chip_has_space": True,
        "licence_suspended": False,
        "card_only": True,
        "signature_cert_valid": True,
        "knows_signature_pin": True,
    }


@pytest.mark.parametrize("field", list(ONE_STOP_YES))
def test_no_to_any_single_question_stops_the_flow(client, nagano, field):
    post(client, "/book/", {"procedure": "one-stop"})
    response = post(client, "/book/questions/", {**ONE_STOP_YES, field: "no"})
    assert response.status_code == 200 and "今は予約できません" in text(response)
    assert client.get("/book/venue/").url == "/book/questions/"


def test_no_to_the_licence_question_says_that_a_suspended_licence_cannot_be_recorded(client, nagano):
    post(client, "/book/", {"procedure": "record"})
    page = text(post(client, "/book/questions/", {**CARD_OK, "licence_not_suspended": "no"}))
    assert "停止処分の期間中は、カードへの記録はできません。" in page


def test_a_chip_without_room_stops_the_flow_and_says_to_ask_the_municipality_first(client, nagano):
    post(client, "/book/", {"procedure": "re-record"})
    page = text(post(client, "/book/questions/", {**CARD_OK, "chip_has_space": "no"}))
    assert "今は予約できません" in page
    assert "ICチップに空きがないと、免許の情報は書き込めません。" in page and "市区町村" in page
    assert client.get("/book/venue/").url == "/book/questions/"


def test_a_resident_who_does_not_know_whether_the_chip_has_room_can_book_and_is_told_what_happens(
    client, nagano
):
    post(client, "/book/", {"procedure": "record"})
    page = text(client.get("/book/questions/"))
    question = page.split("ICチップに、免許の情報を書き込む空きがありますか")[1].split("</fieldset>")[0]
    assert 'value="unsure"' in question and "分からない" in question
    assert "分からなくても予約できます。" in question
    assert 'aria-describedby="id_chip_has_space_helptext"' in page
    assert post(client, "/book/questions/", {**CARD_OK, "chip_has_space": "unsure"}).url == "/book/venue/"
    assert client.session[views.FLOW]["answers"] == {
        "card_valid": True,
        "chip_ok": True,
        "licence_suspended": False,
    }
    again = text(client.get("/book/questions/"))  # back to the questions: the choices are kept
    assert re.search(r'name="chip_has_space" value="unsure"[^>]*checked', again)
    assert re.search(r'name="licence_not_suspended" value="yes"[^>]*checked', again)


def test_the_chip_question_is_not_asked_for_erase_or_holding_change(client, nagano):
    for procedure in ("erase", "holding-change"):
        post(client, "/book/", {"procedure": procedure})
        assert client.get("/book/questions/").url == "/book/venue/"


def test_english_questions_read_yes_for_fine_and_offer_i_do_not_know_for_the_chip(client, nagano):
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    post(client, "/book/", {"procedure": "record"})
    page = text(client.get("/book/questions/"))
    assert "Is there room left on your card&#x27;s IC chip for the licence?" in page
    assert "I don&#x27;t know" in page and "You can book without knowing." in page
    assert "Can your driving licence be used, without a suspension?" in page
    page = text(post(client, "/book/questions/", {**CARD_OK, "chip_has_space": "no"}))
    assert "Without room on the IC chip, the licence cannot be written onto it." in page


def test_stations_that_take_no_procedure_are_not_offered_but_a_koban_names_its_parent_station(client, nagano):
    post(client, "/book/", {"procedure": "erase"})
    client.get("/book/questions/")
    page = text(client.get("/book/venue/"))
    for code in ("nagano-minami-station", "saku-station", "shiojiri-station"):
        assert f'value="{code}"' not in page
    assert "塩尻警察署" not in page
    koban = page.split("松代交番", 1)[1].split("</li>")[0]
    assert "所属警察署" in koban and "長野南警察署" in koban
    assert "佐久警察署" in page.split("臼田交番", 1)[1].split("</li>")[0]
    response = post(client, "/book/venue/", {"venue": "saku-station"})
    assert response.status_code == 200 and "date" not in response.headers.get("Location", "")


def test_an_unconfirmed_venue_phone_is_held_back_with_a_note_until_an_administrator_confirms_it(
    client, nagano
):
    post(client, "/book/", {"procedure": "erase"})
    client.get("/book/questions/")
    page = text(client.get("/book/venue/"))
    chuo = page.split("長野中央警察署", 1)[1].split("</li>")[0]
    assert "244-0110" not in chuo and "0262440110" not in chuo and "電話番号は確認中です" in chuo
    assert "292-2345" in page.split("北信運転免許センター", 1)[1].split("</li>")[0]  # confirmed in the data
    assert "確認中" not in page.split("松代交番", 1)[1].split("</li>")[0]  # no number known: nothing said
    Venue.objects.filter(code="nagano-chuo-station").update(phone_verified=True)
    chuo = text(client.get("/book/venue/")).split("長野中央警察署", 1)[1].split("</li>")[0]
    assert "244-0110" in chuo and "確認中" not in chuo


def test_the_done_page_holds_back_an_unconfirmed_venue_phone(client, december):
    Venue.objects.filter(code="hokushin-centre").update(phone_verified=False)
    book(client)
    main = text(client.get("/book/done/")).split("<main")[1].split("</main>")[0]
    assert "292-2345" not in main and "0262922345" not in main and "電話番号は確認中です" in main


def test_the_venue_page_offers_only_venues_that_take_the_procedure_grouped_by_area(client, nagano):
    post(client, "/book/", {"procedure": "record"})
    post(client, "/book/questions/", CARD_OK)
    page = text(client.get("/book/venue/"))
    assert [h for h in re.findall(r"<h2>(.*?)</h2>", page)] == ["北信", "東信", "中信", "南信"]
    for name in ("北信運転免許センター", "東信運転免許センター", "中南信運転免許センター", "飯田警察署"):
        assert name in page
    assert "丸子" not in page and "長野中央警察署" not in page
    assert "026-292-2345" in page and "10:00–11:00、14:30–15:30" in page


def test_a_koban_shows_that_it_takes_only_erase(client, nagano):
    post(client, "/book/", {"procedure": "erase"})
    client.get("/book/questions/")
    page = text(client.get("/book/venue/"))
    # said once above the list (issue 13), not on each of the 25 cards
    notes = page.split('name="venue"')[0]
    assert "警察署と運転免許事務取扱交番で受け付けるのは「記録抹消」だけです。" in notes
    koban = card(page, "丸子交番")
    assert "9:00–11:30、13:00–16:00" in koban and "だけです" not in koban


def test_the_calendar_marks_closed_days_with_their_reason(client, nagano, travel):
    travel(2026, 12, 21, 9, 0)
    hokushin = Venue.objects.get(code="hokushin-centre")
    builders.closure(hokushin, date(2027, 1, 15), note="設備点検のため")
    slots_generate(now=at_jst(date(2026, 12, 21), 9), venues=[hokushin])
    walk_to_date(client)
    december_page = text(client.get("/book/date/?month=2026-12"))
    assert "2026年12月" in december_page and "年末年始のお休み" in december_page
    assert "日曜日" in december_page  # weekends are marked too (read out to screen readers)
    january = text(client.get("/book/date/?month=2027-01"))
    assert "祝日（成人の日）" in january and "臨時休業：設備点検のため" in january
    assert 'href="?month=2027-01&amp;day=2027-01-12#times"' in january  # an open day links to its times
    assert "day=2027-01-11" not in january and "day=2027-01-15" not in january


def walk_to_date(client, procedure="record", venue="hokushin-centre"):
    post(client, "/book/", {"procedure": procedure})
    post(client, "/book/questions/", CARD_OK)
    post(client, "/book/venue/", {"venue": venue})


def test_the_times_of_the_chosen_day_show_full_ones_as_full(client, december):
    Slot.objects.filter(venue__code="hokushin-centre", start=at_jst(MONDAY, 10, 10)).update(taken=1)
    walk_to_date(client)
    page = text(client.get("/book/date/?day=2026-12-14"))
    assert "2026年12月14日（月） の時間" in page
    assert f'name="start" value="{at_jst(MONDAY, 10, 0).isoformat()}"' in page
    assert '<button type="button" class="time full" disabled>10:10<span class="state">満席</span>' in page
    assert len(re.findall(r'name="start"', page)) == 11  # 12 slots, one full


def test_a_seat_taken_before_confirming_offers_the_nearest_free_times_and_keeps_what_was_typed(
    client, december, travel
):
    walk(client)
    # The resident leaves the page open past the hold; meanwhile someone else books that time.
    made(start=START, now=travel(2026, 12, 1, 9, 11))
    response = post(client, "/book/confirm/", {})
    page = text(response)
    assert response.status_code == 409 and "満席になりました" in page
    offered = re.findall(r'class="time wide">(.*?)</button>', page)
    assert offered == [
        f"2026年12月14日（月）{t}" for t in ("10:10", "10:20", "10:30", "10:40", "10:50", "14:30")
    ]
    assert "長野 太郎" in page  # what was typed is kept
    # Picking one of them goes straight back to the confirm page, not to the contact form.
    assert post(client, "/book/date/", {"start": at_jst(MONDAY, 10, 10).isoformat()}).url == "/book/confirm/"
    assert post(client, "/book/confirm/", {}).url == "/book/done/"
    mine = Booking.objects.exclude(name="長野 花子").get()
    assert mine.start == at_jst(MONDAY, 10, 10)


def test_choosing_a_time_holds_its_seat_for_everyone_else_and_says_until_when(client, december):
    walk_to_date(client)
    assert post(client, "/book/date/", {"start": START.isoformat()}).url == "/book/contact/"
    assert Slot.objects.get(venue__code="hokushin-centre", start=START).taken == 1
    assert "9:10 まで確保しています" in text(client.get("/book/contact/"))
    # Somebody else sees the seat as taken, and cannot hold or book it.
    other = Client(REMOTE_ADDR="198.51.100.251")
    walk_to_date(other)
    page = text(other.get("/book/date/?day=2026-12-14"))
    assert '<button type="button" class="time full" disabled>10:00<span class="state">満席</span>' in page
    refused = post(other, "/book/date/", {"start": START.isoformat()})
    assert refused.status_code == 409 and "満席になりました" in text(refused)
    # The holder confirms: the hold becomes the booking, without a second seat.
    post(client, "/book/contact/", CONTACT)
    assert "9:10 まで確保しています" in text(client.get("/book/confirm/"))
    assert post(client, "/book/confirm/", {}).url == "/book/done/"
    assert Slot.objects.get(venue__code="hokushin-centre", start=START).taken == 1
    assert Booking.objects.get().start == START


def test_choosing_another_time_frees_the_first_seat_at_once(client, december):
    walk_to_date(client)
    post(client, "/book/date/", {"start": START.isoformat()})
    later = at_jst(MONDAY, 10, 30)
    post(client, "/book/date/", {"start": later.isoformat()})
    taken = dict(
        Slot.objects.filter(venue__code="hokushin-centre", date=MONDAY).values_list("start", "taken")
    )
    assert taken[START] == 0 and taken[later] == 1
    assert Hold.objects.filter(state="live").count() == 1


def test_the_own_held_time_is_shown_as_chosen_not_as_a_current_booking(client, december):
    walk_to_date(client)
    post(client, "/book/date/", {"start": START.isoformat()})
    page = text(client.get("/book/date/?day=2026-12-14"))
    assert "現在の予約" not in page
    assert 'class="time current" aria-current="true">10:00<span class="state">選択中</span>' in page


def test_a_double_tap_on_confirm_books_once_and_both_taps_end_on_the_done_page(client, december):
    walk(client)
    session_before = client.session[views.FLOW]
    first = post(client, "/book/confirm/", {})
    assert first.url == "/book/done/"
    # The second tap was sent with the session as it was before the first answer came back.
    session = client.session
    session[views.FLOW] = session_before
    session.pop(views.BOOKED)
    session.save()
    second = post(client, "/book/confirm/", {})
    assert second.url == "/book/done/"
    done = text(client.get("/book/done/"))
    booking = Booking.objects.get()
    assert booking.reference in done and Slot.objects.get(pk=booking.slot_id).taken == 1
    # The back button after confirming shows the same booking, never step 1 and never a second one.
    assert client.get("/book/confirm/").url == "/book/done/"
    assert post(client, "/book/confirm/", {}).url == "/book/done/"
    assert Booking.objects.count() == 1


def test_a_confirm_after_the_hold_expired_still_books_the_seat_while_it_is_free(client, december, travel):
    walk(client)
    travel(2026, 12, 1, 9, 30)
    assert "確保する時間が過ぎました" in text(client.get("/book/confirm/"))
    assert post(client, "/book/confirm/", {}).url == "/book/done/"
    assert Booking.objects.get().start == START
    assert Slot.objects.get(venue__code="hokushin-centre", start=START).taken == 1


def test_the_same_person_cannot_hold_two_bookings_of_one_procedure(client, december):
    made()
    walk(client, contact={**CONTACT, "phone": "026-123-4567"}, start=at_jst(MONDAY, 10, 20))
    response = post(client, "/book/confirm/", {})
    assert response.status_code == 409 and "すでにあります" in text(response)


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ({"name": "", "phone": "09012345678", "email": ""}, "お名前を入力してください"),
        ({"name": "長野", "phone": "", "email": ""}, "どちらかを入力してください"),
        ({"name": "長野", "phone": "12345", "email": ""}, "10桁か11桁"),
        ({"name": "長野", "phone": "", "email": "taro@"}, "メールアドレスの形を確かめてください"),
    ],
)
def test_the_contact_form_says_what_to_fix(client, december, typed, message):
    walk_to_date(client)
    post(client, "/book/date/", {"start": START.isoformat()})
    response = post(client, "/book/contact/", typed)
    assert response.status_code == 200 and message in text(response)


def test_the_contact_page_says_what_is_kept_and_for_how_long(client, december, settings):
    settings.RETENTION_DAYS = 90
    walk_to_date(client)
    post(client, "/book/date/", {"start": START.isoformat()})
    page = text(client.get("/book/contact/"))
    assert (
        "来場日から90日後に消去します" in page
        and "マイナンバー（個人番号）や暗証番号はお聞きしません" in page
    )
    assert 'autocomplete="tel"' in page and 'type="email"' in page


def test_a_step_reached_too_early_sends_back_to_the_first_missing_one(client, nagano):
    assert client.get("/book/confirm/").url == "/book/"
    assert client.get("/book/done/").url == "/"
    post(client, "/book/", {"procedure": "record"})
    assert client.get("/book/date/").url == "/book/questions/"


def test_one_stop_reminds_to_know_the_signature_pin_without_asking_for_it(client, december):
    walk(
        client,
        procedure="one-stop",
        answers={**CARD_OK, "card_only": "yes", "signature_cert_valid": "yes", "knows_signature_pin": "yes"},
    )
    page = text(client.get("/book/confirm/"))
    assert "署名用電子証明書の暗証番号" in page and "このサイトでは入力しません" in page
    assert 'type="password"' not in page


# --- Managing a booking -------------------------------------------------------------------------


def test_the_manage_link_moves_the_token_into_the_session_and_out_of_the_address(client, december):
    booking, token = made()
    response = client.get(f"/booking/{booking.reference}/?token={token}")
    assert response.status_code == 302 and response.url == f"/booking/{booking.reference}/"
    page = text(client.get(response.url))
    assert booking.reference in page and "2026年12月14日（月）10:00" in page and "予約済み" in page
    assert Client().get(f"/booking/{booking.reference}/").url == "/booking/lookup/"
    assert Client().get(f"/booking/{booking.reference}/?token=wrong").status_code == 404


def test_cancelling_asks_for_confirmation_then_frees_the_seat(client, december):
    booking, token = made()
    client.get(f"/booking/{booking.reference}/?token={token}")
    confirm = client.get(f"/booking/{booking.reference}/cancel/")
    assert confirm.status_code == 200 and "この予約を取り消しますか？" in text(confirm)
    assert Booking.objects.get(pk=booking.pk).status == "confirmed"  # looking is not cancelling

    done = post(client, f"/booking/{booking.reference}/cancel/", {}, follow=True)
    page = text(done)
    assert "予約を取り消しました。" in page and "取消" in page
    assert Booking.objects.get(pk=booking.pk).status == "cancelled"
    assert Slot.objects.get(pk=booking.slot_id).taken == 0
    assert "日時を変更する" not in page


def test_rescheduling_holds_the_new_time_and_moves_only_once_confirmed(client, december):
    booking, token = made()
    client.get(f"/booking/{booking.reference}/?token={token}")
    page = text(client.get(f"/booking/{booking.reference}/reschedule/?day=2026-12-14"))
    assert '<table class="calendar">' in page
    assert "現在の予約" in page  # the own seat is shown, not offered
    later = at_jst(MONDAY, 14, 30)
    chosen = post(client, f"/booking/{booking.reference}/reschedule/", {"start": later.isoformat()})
    assert chosen.url == f"/booking/{booking.reference}/reschedule/confirm/"
    confirm = text(client.get(chosen.url))
    assert "この日時に変更しますか？" in confirm and "2026年12月14日（月）14:30" in confirm
    assert "9:10 まで確保しています" in confirm
    # Nothing has moved yet, but the new seat is held.
    assert Booking.objects.get(pk=booking.pk).start == START
    assert Slot.objects.get(venue__code="hokushin-centre", start=later).taken == 1
    done = post(client, chosen.url, {"action": "move"}, follow=True)
    assert "予約の日時を変更しました。" in text(done) and "2026年12月14日（月）14:30" in text(done)
    moved = Booking.objects.get(pk=booking.pk)
    assert moved.start == later
    taken = dict(
        Slot.objects.filter(venue__code="hokushin-centre", date=MONDAY).values_list("start", "taken")
    )
    assert taken[START] == 0 and taken[later] == 1
    # A second tap on the same confirm form changes nothing more.
    assert post(client, chosen.url, {"action": "move"}).url == f"/booking/{booking.reference}/"
    assert Booking.objects.get(pk=booking.pk).start == later


def test_leaving_the_reschedule_confirm_page_keeps_the_booking_and_frees_the_held_seat(client, december):
    booking, token = made()
    client.get(f"/booking/{booking.reference}/?token={token}")
    later = at_jst(MONDAY, 14, 30)
    chosen = post(client, f"/booking/{booking.reference}/reschedule/", {"start": later.isoformat()})
    kept = post(client, chosen.url, {"action": "keep"})
    assert kept.url == f"/booking/{booking.reference}/"
    assert Booking.objects.get(pk=booking.pk).start == START
    assert Slot.objects.get(venue__code="hokushin-centre", start=later).taken == 0


def test_a_taken_time_when_rescheduling_keeps_the_booking_and_offers_others(client, december):
    booking, token = made()
    client.get(f"/booking/{booking.reference}/?token={token}")
    Slot.objects.filter(venue__code="hokushin-centre", start=at_jst(MONDAY, 14, 30)).update(taken=1)
    response = post(
        client, f"/booking/{booking.reference}/reschedule/", {"start": at_jst(MONDAY, 14, 30).isoformat()}
    )
    assert response.status_code == 409 and "今の予約はそのままです" in text(response)
    assert "2026年12月14日（月）14:40" in text(response)
    assert Booking.objects.get(pk=booking.pk).start == START


def test_the_lookup_form_finds_a_booking_by_reference_and_phone(client, december):
    booking, _ = made()
    response = post(
        client, "/booking/lookup/", {"reference": booking.reference.lower(), "phone_or_email": "026-123-4567"}
    )
    assert response.url == f"/booking/{booking.reference}/"
    assert client.get(response.url).status_code == 200


def test_the_lookup_form_says_nothing_was_found_for_a_wrong_phone(client, december):
    booking, _ = made()
    response = post(
        client, "/booking/lookup/", {"reference": booking.reference, "phone_or_email": "0000000000"}
    )
    assert response.status_code == 200 and "予約が見つかりませんでした" in text(response)
    assert client.get(f"/booking/{booking.reference}/").url == "/booking/lookup/"


def test_wrong_lookups_are_limited_per_address_without_locking_the_holder_out(client, december):
    from bookings import lookup_limits

    booking, _ = made()
    for _ in range(10):
        post(client, "/booking/lookup/", {"reference": booking.reference, "phone_or_email": "0000000000"})
    limited = post(
        client, "/booking/lookup/", {"reference": booking.reference, "phone_or_email": "0261234567"}
    )
    assert limited.status_code == 429 and "15分ほど待って" in text(limited)
    # The holder, elsewhere, still finds the booking: a stranger cannot lock them out.
    holder = Client(REMOTE_ADDR=f"203.0.113.{uuid.uuid4().int % 250 + 1}")
    found = holder.post("/booking/lookup/", {"reference": booking.reference, "phone_or_email": "0261234567"})
    assert found.status_code == 302
    address = client.get("/").wsgi_request.META["REMOTE_ADDR"]
    lookup_limits.forget(address=address, reference=booking.reference)


def test_guessing_one_reference_from_many_addresses_meets_its_ceiling(client, december, settings):
    from bookings import lookup_limits

    settings.LOOKUP_FAILURES_PER_REFERENCE = 5
    booking, _ = made()
    for index in range(5):
        guesser = Client(REMOTE_ADDR=f"192.0.2.{index + 1}")
        guesser.post("/booking/lookup/", {"reference": booking.reference, "phone_or_email": "0000000000"})
    late = Client(REMOTE_ADDR="192.0.2.99").post(
        "/booking/lookup/", {"reference": booking.reference, "phone_or_email": "0261234567"}
    )
    assert late.status_code == 429
    for index in (*range(1, 6), 99):
        lookup_limits.forget(address=f"192.0.2.{index}", reference=booking.reference)


def test_the_calendar_file_describes_the_visit_without_the_token(client, december):
    booking, token = made()
    client.get(f"/booking/{booking.reference}/?token={token}")
    response = client.get(f"/booking/{booking.reference}/calendar.ics")
    assert response["Content-Type"].startswith("text/calendar")
    assert f'filename="{booking.reference}.ics"' in response["Content-Disposition"]
    body = response.content.decode().replace("\r\n ", "")
    assert "DTSTART:20261214T010000Z" in body and "DTEND:20261214T011000Z" in body
    assert "SUMMARY:特定免許情報の記録" in body and "北信運転免許センター" in body
    assert booking.reference in body and token not in body and "STATUS:CONFIRMED" in body


def test_the_calendar_file_of_a_cancelled_booking_says_cancelled_in_its_language(december):
    booking, _ = made()
    Booking.objects.filter(pk=booking.pk).update(status="cancelled", language="en")
    body = booking_ics(Booking.objects.get(pk=booking.pk)).decode().replace("\r\n ", "")
    assert "STATUS:CANCELLED" in body and "Record the licence on the My Number Card" in body
    assert "Booking reference" in body


# --- English ---------------------------------------------------------------------------------------


def test_an_english_resident_books_with_english_dates_and_texts(client, december):
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    booking = book(client)
    assert booking.language == "en"
    page = text(client.get("/book/done/"))
    assert "Mon 14 December 2026, 10:00" in page and "Hokushin Driving Licence Centre" in page
    assert "Booking reference" in page and "My Number Card" in page


def test_english_questions_and_their_advice_are_translated(client, nagano):
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    post(client, "/book/", {"procedure": "record"})
    page = text(post(client, "/book/questions/", {**CARD_OK, "card_valid": "no"}))
    assert "renew the card at your municipality" in page


# --- Costs: queries and bytes -------------------------------------------------------------------------

# The queries each page makes (as measured; the session read included, a GET writes no session).
PAGE_QUERIES = {
    "start": 1,  # procedures
    "help": 0,
    "procedure": 2,  # session, procedures
    "questions": 2,  # session, procedure
    "venue": 5,  # session, procedure, venues, their procedures, their windows
    "date": 7,  # session, procedure, venue, closures ×2, windows, slots
    "contact": 1,  # session
    "confirm": 3,  # session, procedure, venue
    "done": 2,  # session, booking
    "manage": 2,  # session, booking
    "reschedule": 6,  # session, booking, closures ×2, windows, slots
    "cancel": 2,  # session, booking
    "lookup": 0,
}


def page_urls(client) -> dict[str, str]:
    booking, token = made(start=at_jst(MONDAY, 15, 0))
    client.get(f"/booking/{booking.reference}/?token={token}")
    walk(client)
    urls = {
        "start": "/",
        "help": "/help/",
        "procedure": "/book/",
        "questions": "/book/questions/",
        "venue": "/book/venue/",
        "date": "/book/date/?day=2026-12-14",
        "contact": "/book/contact/",
        "confirm": "/book/confirm/",
        "manage": f"/booking/{booking.reference}/",
        "reschedule": f"/booking/{booking.reference}/reschedule/?day=2026-12-14",
        "cancel": f"/booking/{booking.reference}/cancel/",
        "lookup": "/booking/lookup/",
    }
    return urls


@pytest.mark.parametrize("page", sorted(PAGE_QUERIES))
def test_every_page_renders_in_a_fixed_number_of_queries(
    client, december, django_assert_max_num_queries, page
):
    urls = page_urls(client)
    if page == "done":
        post(client, "/book/confirm/", {})
        urls["done"] = "/book/done/"
    client.get(urls[page])  # warm the caches that are filled once per process (templates, holidays)
    with django_assert_max_num_queries(PAGE_QUERIES[page]):
        response = client.get(urls[page])
    assert response.status_code == 200


def test_the_date_page_costs_the_same_however_many_bookings_there_are(client, december):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bookings import availability_cache

    walk_to_date(client)
    client.get("/book/date/?day=2026-12-14")
    availability_cache.new_generation()  # both reads below compute availability afresh
    with CaptureQueriesContext(connection) as few:
        client.get("/book/date/?day=2026-12-14")
    for minute in (10, 20, 30):
        Slot.objects.filter(venue__code="hokushin-centre", start=at_jst(MONDAY, 10, minute)).update(taken=1)
    builders.closure(Venue.objects.get(code="hokushin-centre"), date(2026, 12, 16), note="点検")
    availability_cache.new_generation()
    with CaptureQueriesContext(connection) as many:
        client.get("/book/date/?day=2026-12-14")
    assert len(many) == len(few)


def test_the_venue_page_costs_the_same_for_four_venues_as_for_twenty_eight(client, nagano):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = {}
    for procedure in ("record", "erase"):
        post(client, "/book/", {"procedure": procedure})
        post(client, "/book/questions/", CARD_OK if procedure == "record" else {})
        client.get("/book/venue/")
        with CaptureQueriesContext(connection) as queries:
            page = text(client.get("/book/venue/"))
        counts[procedure] = (len(queries), page.count('name="venue"'))
    assert counts == {"record": (5, 4), "erase": (5, 28)}


def test_pages_and_the_stylesheet_stay_small_and_are_served_by_the_app(client, december):
    css = client.get("/static/bookings/site.css")
    assert css.status_code == 200 and len(b"".join(css.streaming_content)) < 50_000
    for url in ("/", "/help/", "/book/"):
        body = client.get(url).content
        assert len(body) < 50_000
        assert b"http://" not in body.replace(b"http://testserver", b"") and b"https://" not in body


def test_no_page_is_cached_once_it_shows_personal_data(client, december):
    walk(client)
    assert "no-store" in client.get("/book/confirm/")["Cache-Control"]


def test_a_closed_window_leaves_no_time_to_pick(client, december):
    hokushin = Venue.objects.get(code="hokushin-centre")
    builders.closure(hokushin, MONDAY, start_time=time(9, 0), end_time=time(17, 0), note="研修")
    slots_generate(now=at_jst(date(2026, 12, 1), 9), venues=[hokushin])
    walk_to_date(client)
    page = text(client.get("/book/date/?day=2026-12-14"))
    assert "研修" in page and 'name="start"' not in page
    assert "day=2026-12-14" not in page.split('<table class="calendar">')[1].split("</table>")[0]
    assert 'href="?month=2026-12&amp;day=2026-12-15#times"' in page


def test_the_confirm_page_does_not_mention_a_qr_code_it_does_not_show(client, december):
    walk(client)
    confirm = shown(client.get("/book/confirm/"))
    assert "QR" not in confirm
    post(client, "/book/confirm/", {})
    done = text(client.get("/book/done/"))
    assert "QRコード" in done and "<svg" in done


def test_the_manage_token_leaves_the_session_once_the_done_page_showed_it(client, december):
    booking = book(client)
    first = text(client.get("/book/done/"))
    assert "?token=" in first
    assert "token" not in client.session[views.BOOKED]
    assert not any(
        booking.token_hash not in str(value) and "token" in str(value) for value in client.session.values()
    )
    again = text(client.get("/book/done/"))
    assert "?token=" not in again and booking.reference in again
    assert client.get(f"/booking/{booking.reference}/").status_code == 200  # still manageable here


# --- Issue 13: what residents noticed ---------------------------------------------------------


def card(page: str, name: str) -> str:
    """The venue page's card of one venue (its heading starts with the name)."""
    return next(part for part in page.split('<li class="card venue') if f"<h3>{name} " in part)


def erase_to_contact(client) -> None:
    """Erase (no questions) at Hokushin, Monday 10:00 held: the contact page is next."""
    post(client, "/book/", {"procedure": "erase"})
    client.get("/book/questions/")
    post(client, "/book/venue/", {"venue": "hokushin-centre"})
    assert post(client, "/book/date/", {"start": START.isoformat()}).url == "/book/contact/"


def test_the_contact_form_shows_every_error_at_once_under_a_summary_that_links_to_each_field(
    client, december
):
    erase_to_contact(client)
    response = post(client, "/book/contact/", {"name": "長" * 61, "phone": "12345", "email": "taro@"})
    page = text(response)
    summary = re.search(r'<div class="error-summary"[^>]*>(.*?)</div>', page).group(0)
    assert 'role="alert"' in summary and 'tabindex="-1"' in summary and "autofocus" in summary
    assert re.findall(r'href="#(id_\w+)"', summary) == ["id_name", "id_phone", "id_email"]
    assert "3つあります" in summary
    # the long name is not cut: it is kept as typed and the message says how long it is
    assert "お名前は60文字までで入力してください（いまは61文字です）。" in page
    assert "長" * 61 in page and 'maxlength="60"' not in page
    assert "10桁か11桁" in page and "メールアドレスの形を確かめてください" in page
    # every aria-describedby names elements that exist on the page
    described = [i for ids in re.findall(r'aria-describedby="([^"]+)"', page) for i in ids.split()]
    assert {"id_name_error", "id_phone_helptext", "id_phone_error", "id_email_error"} <= set(described)
    for target in described:
        assert f'id="{target}"' in page, target
    assert page.count('aria-invalid="true"') == 3


def test_without_a_phone_or_email_the_summary_points_at_the_phone_field(client, december):
    erase_to_contact(client)
    page = text(post(client, "/book/contact/", {"name": "", "phone": "", "email": ""}))
    summary = re.search(r'<div class="error-summary"[^>]*>(.*?)</div>', page).group(0)
    assert re.findall(r'href="#(id_\w+)"', summary) == ["id_name", "id_phone"]
    assert "お名前を入力してください" in summary and "どちらかを入力してください" in summary


def test_a_contact_page_without_errors_has_no_summary(client, december):
    erase_to_contact(client)
    page = text(client.get("/book/contact/"))
    assert "error-summary" not in page and "aria-invalid" not in page


def test_the_steps_are_numbered_for_the_pages_the_procedure_has():
    assert views._step(None, "procedure") == {"step": 1, "steps_total": 0}
    assert views._step("record", "questions") == {"step": 2, "steps_total": 6}
    assert views._step("record", "confirm") == {"step": 6, "steps_total": 6}
    assert views._step("erase", "venue") == {"step": 2, "steps_total": 5}
    assert views._step("erase", "confirm") == {"step": 5, "steps_total": 5}


def test_erase_counts_five_steps_on_every_page(client, december):
    assert "ステップ 1</p>" in text(client.get("/book/"))
    post(client, "/book/", {"procedure": "erase"})
    client.get("/book/questions/")
    assert "ステップ 2 / 5" in text(client.get("/book/venue/"))
    post(client, "/book/venue/", {"venue": "hokushin-centre"})
    assert "ステップ 3 / 5" in text(client.get("/book/date/?day=2026-12-14"))
    post(client, "/book/date/", {"start": START.isoformat()})
    assert "ステップ 4 / 5" in text(client.get("/book/contact/"))
    post(client, "/book/contact/", CONTACT)
    assert "ステップ 5 / 5" in text(client.get("/book/confirm/"))


def times_of(page: str) -> str:
    return page.split('id="times"')[1]


def test_times_are_grouped_morning_and_afternoon_with_seats_left_when_two_counters_are_open(client, december):
    post(client, "/book/", {"procedure": "erase"})
    client.get("/book/questions/")
    post(client, "/book/venue/", {"venue": "hokushin-centre"})
    one_counter = times_of(text(client.get("/book/date/?day=2026-12-14")))
    assert re.findall(r'<h3 class="times-part">(.*?)</h3>', one_counter) == ["午前", "午後"]
    assert one_counter.index("10:00") < one_counter.index("午後") < one_counter.index("14:30")
    assert "残り" not in one_counter and "空き" in one_counter

    day = Slot.objects.filter(venue__code="hokushin-centre", date=MONDAY)
    day.update(capacity=2)
    day.filter(start=at_jst(MONDAY, 10, 10)).update(taken=1)
    from bookings import availability_cache

    availability_cache.new_generation()
    two_counters = times_of(text(client.get("/book/date/?day=2026-12-14")))
    assert '10:00<span class="state">残り2</span>' in two_counters
    assert '10:10<span class="state">残り1</span>' in two_counters


def test_the_calendar_marks_today(client, december):
    post(client, "/book/", {"procedure": "erase"})
    client.get("/book/questions/")
    post(client, "/book/venue/", {"venue": "hokushin-centre"})
    page = text(client.get("/book/date/?month=2026-12"))
    today = re.findall(r'<td class="[^"]*\btoday\b[^"]*".*?</td>', page)
    assert len(today) == 1 and '<span class="num">1</span>' in today[0] and "今日" in today[0]


def test_the_reschedule_calendar_marks_the_day_and_time_of_the_current_booking(client, december):
    booking, token = made(procedure="erase")
    client.get(f"/booking/{booking.reference}/?token={token}")
    page = text(client.get(f"/booking/{booking.reference}/reschedule/?day=2026-12-14"))
    mine = re.findall(r'<td class="[^"]*\bmine\b[^"]*".*?</td>', page)
    assert len(mine) == 1 and '<span class="num">14</span>' in mine[0] and "予約中" in mine[0]
    assert 'class="time full mine" disabled>10:00<span class="state">現在の予約' in page


def test_the_erase_venue_list_is_grouped_by_area_with_the_note_once_and_map_and_phone_links(client, nagano):
    post(client, "/book/", {"procedure": "erase"})
    client.get("/book/questions/")
    page = text(client.get("/book/venue/"))
    assert re.findall(r"<h2>(.*?)</h2>", page) == ["北信", "東信", "中信", "南信"]
    assert page.count('name="venue"') == 28
    assert page.count("受け付けるのは「記録抹消」だけです") == 1
    assert page.count('class="map-link" href="https://www.google.com/maps/search/?api=1&amp;query=') == 28
    assert "target=" not in page and "<script" not in page
    chuo = card(page, "長野中央警察署")
    assert "〒380-0803 長野県長野市三輪一丁目6番15号" in chuo
    assert "query=%E3%80%92380-0803" in chuo  # the map looks the street address up
    centre = card(page, "北信運転免許センター")
    assert '<a class="tel" href="tel:0262922345">026-292-2345</a>' in centre


def test_english_venue_cards_show_romanised_addresses_and_one_spelling(client, nagano):
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    post(client, "/book/", {"procedure": "erase"})
    client.get("/book/questions/")
    page = text(client.get("/book/venue/"))
    assert "1-6-15 Miwa, Nagano City, Nagano 380-0803" in page and "三輪" not in page.split("<main")[1]
    assert "Ueda City" in page  # a municipality where the street is not known
    assert "Hokushin Driving Licence Centre" in page
    for american in ("License", "license", "Center"):
        assert american not in page, american


def test_every_page_says_whose_site_it_is_and_where_to_ask(client, nagano):
    for url in ("/", "/help/", "/booking/lookup/", "/book/", "/no-such-page/"):
        page = text(client.get(url))
        footer = page.split('<footer class="site-footer">')[1]
        assert "運営：長野県警察（長野県）" in footer, url
        assert '<a class="tel" href="tel:0262922345">026-292-2345</a>' in footer, url
        assert "中南信運転免許センター" in footer
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    footer = text(client.get("/help/")).split('<footer class="site-footer">')[1]
    assert "Nagano Prefectural Police" in footer and "Toshin Driving Licence Centre" in footer
