"""The outbox's second channel: short texts to a mobile number that asked for them.

Four events go by SMS as well as by e-mail (docs/sms.md): the confirmation (reference and a short
manage link, `links.sms_manage_url`), the reminder the day before, a venue's cancellation, and a
waiting list's offer. A row is written beside the e-mail's, in the same transaction, when the
person ticked SMS on the contact step, the number is a mobile one (070/080/090) and SMS is on
(`SMS_URL`); its `dedupe_key` is `sms:` and the event's key, so one event sends one SMS per number
whatever runs twice. The text is rendered when it is sent, like the e-mail; the confirmation's
token stays sealed in the row until then (`scheduler.sealing`), then is forgotten.

Every text keeps to two SMS (`MAX_SEGMENTS`; Japanese: 134 characters, English in the GSM
alphabet: 306): if the whole text does not fit, the staff's note is shortened, then dropped, then
the venue's name (the link and the reference always stay).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import translation

from scheduler import clock
from scheduler import sms as channel
from scheduler.sealing import seal, unseal

from . import links
from .contact import is_mobile_phone
from .models import Booking, Hold, Notification, WaitlistEntry
from .references import offer_secret_for

Kind = Notification.Kind
KINDS = frozenset({Kind.CONFIRMED, Kind.REMINDER, Kind.CANCELLED_BY_VENUE, Kind.WAITLIST_OFFER})
MAX_SEGMENTS = 2
WEEKDAYS_JA = "月火水木金土日"

# {venue} and {note} arrive with their own leading space or label (empty when left out).
TEXTS = {
    "ja": {
        Kind.CONFIRMED: "【予約確定】予約番号{reference}\n{when}{venue}\n変更・取消 {link}",
        Kind.REMINDER: "【明日のご予約】{when}{venue} 予約番号{reference}\n"
        "マイナンバーカードをお持ちください。\n詳細 {link}",
        Kind.CANCELLED_BY_VENUE: "【重要】会場の都合により{when}{venue}の予約（{reference}）を"
        "取り消しました。{note}\n再予約 {link}",
        Kind.WAITLIST_OFFER: "【空き枠のご案内】{when}{venue}の枠を{until}まで確保しました。"
        "\n予約する {link}",
    },
    "en": {
        Kind.CONFIRMED: "Booking confirmed: {reference}\n{when}{venue}\nChange or cancel: {link}",
        Kind.REMINDER: "Reminder: your visit tomorrow, {when}{venue} ({reference}). "
        "Bring your My Number card.\nDetails: {link}",
        Kind.CANCELLED_BY_VENUE: "Important: the venue had to cancel your booking {reference} "
        "({when}{venue}).{note}\nBook again: {link}",
        Kind.WAITLIST_OFFER: "A seat is free: {when}{venue}, kept for you until {until}.\nBook it: {link}",
    },
}
NOTE_LABEL = {"ja": "理由：{note}", "en": " Reason: {note}"}
ELLIPSIS = {"ja": "…", "en": "..."}  # "…" is not in the GSM alphabet: it would make English UCS-2


# --- Texts -------------------------------------------------------------------------------------


def language_of(language: str) -> str:
    return "en" if (language or "").lower().startswith("en") else "ja"


def when_short(moment: datetime, language: str) -> str:
    """`12/14(月)10:00`, `Mon 14 Dec 10:00`: Japan time, as short as it stays clear."""
    local = clock.local(moment)
    if language == "en":
        return f"{local:%a} {local.day} {local:%b} {local:%H:%M}"
    return f"{local.month}/{local.day}({WEEKDAYS_JA[local.weekday()]}){local:%H:%M}"


def fits(text: str) -> bool:
    return channel.segments(text) <= MAX_SEGMENTS


def fit(render: Callable[[str, str], str], *, venue: str, note: str, language: str) -> str:
    """The longest of `render(venue, note)` that fits in MAX_SEGMENTS: the note shortened, then
    left out, then the venue's name left out. The last try is sent even if it does not fit."""
    venue_part = f" {venue}" if venue else ""
    labelled = NOTE_LABEL[language].format
    tries: list[tuple[str, str]] = []
    for place in dict.fromkeys([venue_part, ""]):
        if note:
            tries.append((place, labelled(note=note)))
            tries += [
                (place, labelled(note=note[:size] + ELLIPSIS[language]))
                for size in range(len(note) - 1, 0, -1)
            ]
        tries.append((place, ""))
    for place, note_part in tries:
        text = render(place, note_part)
        if fits(text):
            return text
    return text


def booking_text(booking: Booking, *, kind: str, token: str | None = None, note: str = "") -> str:
    """The text of a booking's SMS, in the language it was booked in."""
    language = language_of(booking.language)
    template = TEXTS[language][kind]
    if kind == Kind.CONFIRMED and token:
        link = links.sms_manage_url(booking.reference, token)
    elif kind == Kind.CANCELLED_BY_VENUE:
        link = f"{settings.SITE_URL}/"
    else:
        link = links.lookup_url()
    values = {"reference": booking.reference, "when": when_short(booking.start, language), "link": link}
    venue = booking.venue.name_en if language == "en" else booking.venue.name
    return fit(
        lambda place, note_part: template.format(**values, venue=place, note=note_part),
        venue=venue,
        note=" ".join(note.split()),
        language=language,
    )


def offer_hold(entry: WaitlistEntry) -> Hold | None:
    return Hold.objects.filter(waitlist_entry=entry).order_by("-pk").first()


def offer_text(entry: WaitlistEntry, *, hold: Hold) -> str:
    """The offer's text: the seat, until when it is kept, and the link that books it."""
    language = language_of(entry.language)
    template = TEXTS[language][Kind.WAITLIST_OFFER]
    until = clock.local(hold.expires_at)
    same_day = until.date() == clock.today(clock.now())
    values = {
        "when": when_short(hold.start, language),
        "until": f"{until:%H:%M}" if same_day else when_short(hold.expires_at, language),
        "link": links.waitlist_url(offer_secret_for(entry.secret_hash)),
    }
    venue = entry.venue.name_en if language == "en" else entry.venue.name
    return fit(
        lambda place, _note: template.format(**values, venue=place), venue=venue, note="", language=language
    )


def text_for(notification: Notification) -> str:
    """The row's text as it goes out now (the sealed token opened, if any)."""
    if notification.booking_id is None:
        entry = notification.waitlist_entry
        return offer_text(entry, hold=offer_hold(entry))
    return booking_text(
        notification.booking,
        kind=notification.kind,
        token=unseal(notification.token_sealed),
        note=notification.note,
    )


# --- Recording (inside the caller's transaction; the caller wakes the row) ---------------------


def wanted(*, phone: str, sms_opt_in: bool) -> bool:
    return bool(sms_opt_in) and is_mobile_phone(phone) and channel.is_enabled()


def _row(**fields) -> Notification:
    with translation.override("ja"):  # staff pages are Japanese
        fields["subject"] = f"SMS: {Kind(fields['kind']).label}"
    return Notification(channel=Notification.Channel.SMS, **fields)


def save(row: Notification) -> Notification | None:
    """The row written, or None when the event already has its SMS (a savepoint: the caller's
    transaction, a booking's, must not fail for it)."""
    try:
        with transaction.atomic():
            row.save(force_insert=True)
    except IntegrityError:
        return None
    return row


def row(
    *, booking: Booking, kind: str, now: datetime, event_key: str, token: str | None = None, note: str = ""
) -> Notification | None:
    """The SMS row of a booking's event, unsaved (`event_key`: the e-mail's dedupe key, or
    kind:booking), or None when the person gets no SMS of it."""
    if kind not in KINDS or not wanted(phone=booking.phone, sms_opt_in=booking.sms_opt_in):
        return None
    return _row(
        booking=booking,
        kind=kind,
        dedupe_key=f"sms:{event_key}"[:80],
        to_address=booking.phone,
        language=language_of(booking.language),
        token_sealed=seal(token) if token and kind == Kind.CONFIRMED else "",
        note=note[:200],
        next_attempt_at=now,
    )


def offer_record(*, entry: WaitlistEntry, hold: Hold, now: datetime) -> Notification | None:
    """The SMS row of a waiting list's offer (beside `notifications.offer_record`'s e-mail)."""
    if not wanted(phone=entry.phone, sms_opt_in=entry.sms_opt_in):
        return None
    return save(
        _row(
            booking=None,
            waitlist_entry=entry,
            kind=Kind.WAITLIST_OFFER,
            dedupe_key=f"sms:waitlist_offer:{hold.pk}",
            to_address=entry.phone,
            language=language_of(entry.language),
            next_attempt_at=now,
        )
    )


# --- Sending -------------------------------------------------------------------------------------


def send(notification: Notification) -> str:
    """Send a claimed SMS row; the provider's id. Raises `scheduler.sms.SmsError`."""
    person = notification.booking or notification.waitlist_entry
    reference = notification.booking.reference if notification.booking_id else f"waitlist-{person.pk}"
    return channel.send_sms(
        notification.to_address,
        text_for(notification),
        reference=reference,
        full_text_path=reverse("admin:bookings_notification_change", args=[notification.pk]),
    )
