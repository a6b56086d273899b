"""The outbox: a row per message, written inside the transaction of the change it reports.

`record()` writes the row in the caller's transaction (nothing is rendered there: the request
stays cheap) and asks for it to be sent once that transaction commits; `deliver()` renders the
message (Japanese or English, plain text and HTML) from the booking as it is then. The
confirmation is the only message that carries the private manage link: the token exists in clear
only while the booking is being made (the database keeps its hash), so the row keeps it sealed
(encrypted, `scheduler.sealing`) until the message is sent or given up, then forgets it. Later
messages point to the lookup page instead.

Sending (`deliver`) claims the row with a conditional UPDATE (pending → sending), so a message
goes out at most once even if its task runs twice; SMTP errors are retried with a doubling
back-off, then the row is marked failed. When the broker is down the row simply stays pending
and the periodic sweep (`sweep`) sends it later.
"""

from __future__ import annotations

import functools
import logging
import re
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from celery import current_app
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from scheduler import clock, metrics
from scheduler import rows as raw_rows
from scheduler.mail import send_error_text
from scheduler.sealing import seal, unseal
from venues.models import Procedure, Venue

from . import links, sms
from .guidance import what_to_bring
from .ics import booking_ics
from .models import Booking, BookingEvent, Hold, Notification, WaitlistEntry
from .references import offer_secret_for

logger = logging.getLogger(__name__)

Kind = Notification.Kind
State = Notification.State

# A task may run a little before the time its row says (clocks of two machines differ).
CLAIM_LEEWAY = timedelta(seconds=10)
CLAIM_CHUNK = 20

SUBJECTS = {
    "ja": {
        Kind.CONFIRMED: "【予約確定】マイナ免許証の窓口予約（予約番号 {reference}）",
        Kind.RESCHEDULED: "【予約変更】日時を変更しました（予約番号 {reference}）",
        Kind.CANCELLED: "【予約取消】予約を取り消しました（予約番号 {reference}）",
        Kind.CANCELLED_BY_VENUE: "【重要】会場の都合により予約が取り消されました（予約番号 {reference}）",
        Kind.REMINDER: "【明日のご予約】マイナ免許証の窓口（予約番号 {reference}）",
        Kind.WAITLIST_OFFER: "【空き枠のご案内】{when_short} の枠を確保しました（{until} まで）",
    },
    "en": {
        Kind.CONFIRMED: "Booking confirmed: My Number licence counter ({reference})",
        Kind.RESCHEDULED: "Booking changed: new date and time ({reference})",
        Kind.CANCELLED: "Booking cancelled ({reference})",
        Kind.CANCELLED_BY_VENUE: "Important: the venue had to cancel your booking ({reference})",
        Kind.REMINDER: "Reminder: your counter visit tomorrow ({reference})",
        Kind.WAITLIST_OFFER: "A seat is free: {when_short}, kept for you until {until}",
    },
}
WEEKDAYS_JA = "月火水木金土日"


# --- Rendering ------------------------------------------------------------------------------


def message_language(language: str) -> str:
    return "en" if (language or "").lower().startswith("en") else "ja"


def when_text(start: datetime, end: datetime, language: str) -> str:
    """The visit's date and time in Japan time, written the way each language reads it."""
    begin, finish = clock.local(start), clock.local(end)
    if message_language(language) == "en":
        return f"{begin:%A} {begin.day} {begin:%B %Y}, {begin:%H:%M}–{finish:%H:%M} (Japan time)"
    weekday = WEEKDAYS_JA[begin.weekday()]
    return f"{begin.year}年{begin.month}月{begin.day}日（{weekday}） {begin:%H:%M}〜{finish:%H:%M}"


def render(booking: Booking, *, kind: str, token: str | None = None, note: str = "") -> tuple[str, str, str]:
    """(subject, plain text, HTML) in the language the person booked in."""
    language = message_language(booking.language)
    with translation.override(language):
        context = {
            "booking": booking,
            "language": language,
            "name": booking.name,
            "reference": booking.reference,
            "when": when_text(booking.start, booking.end, language),
            "procedure_code": booking.procedure.code,
            "bring": what_to_bring(booking.procedure.code),
            "procedure_name": booking.procedure.display_name,
            "venue_name": booking.venue.display_name,
            "venue_address": booking.venue.address,
            "venue_phone": booking.venue.public_phone,  # only a number an administrator confirmed
            "venue_phone_pending": booking.venue.phone_pending,
            # Only the confirmation carries the token; every later message uses the lookup page.
            "manage_url": links.manage_url(booking.reference, token) if token else "",
            "lookup_url": links.lookup_url(),
            "site_url": settings.SITE_URL,
            "note": note,
        }
        text = render_to_string(f"bookings/email/{language}/{kind}.txt", context)
        html = render_to_string(f"bookings/email/{language}/{kind}.html", context)
    subject = SUBJECTS[language][kind].format(reference=booking.reference)
    return subject, re.sub(r"\n{3,}", "\n\n", text).strip() + "\n", html


# --- Recording (inside the caller's transaction) --------------------------------------------


def rows(
    *,
    booking: Booking,
    kind: str,
    now: datetime,
    token: str | None = None,
    note: str = "",
    dedupe_key: str | None = None,
) -> list[Notification]:
    """The outbox rows of `kind`, unsaved: the e-mail (none when the person left no address) and
    the SMS of the same event (bookings/sms.py), in that order."""
    written = []
    if booking.email:
        language = message_language(booking.language)
        written.append(
            Notification(
                booking=booking,
                kind=kind,
                dedupe_key=dedupe_key or f"{kind}:{booking.pk}:{uuid.uuid4().hex}",
                to_address=booking.email,
                language=language,
                subject=SUBJECTS[language][kind].format(reference=booking.reference)[:200],
                token_sealed=seal(token) if token else "",
                note=note[:200],
                next_attempt_at=now,
            )
        )
    texted = sms.row(
        booking=booking,
        kind=kind,
        now=now,
        event_key=dedupe_key or f"{kind}:{booking.pk}",
        token=token,
        note=note,
    )
    return [*written, *([texted] if texted is not None else [])]


def record(
    *,
    booking: Booking,
    kind: str,
    now: datetime,
    token: str | None = None,
    note: str = "",
    dedupe_key: str | None = None,
) -> Notification | None:
    """Write the outbox rows of `kind` (`rows`); the e-mail's row, else the SMS row, else None.

    The rows are sent after the surrounding transaction commits (never before: a rolled-back
    booking sends nothing). An SMS the event already has is not written twice.
    """
    written = []
    for row in rows(booking=booking, kind=kind, now=now, token=token, note=note, dedupe_key=dedupe_key):
        if row.channel == Notification.Channel.SMS:
            row = sms.save(row)  # None when this event has its SMS already
        else:
            row.save(force_insert=True)
        if row is not None:
            wake(row.pk)
            written.append(row)
    return written[0] if written else None


# --- The waiting list's offer (bookings/waitlist.py): told before any booking exists --------------


def offer_hold(entry: WaitlistEntry) -> Hold | None:
    """The seat offered to the entry (one entry is offered one seat at most)."""
    return entry.offers.select_related("slot").order_by("-pk").first()


def offer_render(entry: WaitlistEntry, *, hold: Hold) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of the offer, in the entry's language; the link carries the
    offer's secret, derived from the entry (`references.offer_secret_for`), never stored."""
    language = message_language(entry.language)
    until = clock.local(hold.expires_at)
    begin = clock.local(hold.start)
    with translation.override(language):
        context = {
            "language": language,
            "name": entry.name,
            "when": when_text(hold.start, hold.end, language),
            "until": f"{until:%H:%M} on {until.day} {until:%B}"
            if language == "en"
            else f"{until.month}月{until.day}日 {until:%H:%M}",
            "procedure_name": entry.procedure.display_name,
            "venue_name": entry.venue.display_name,
            "venue_address": entry.venue.address,
            "venue_phone": entry.venue.public_phone,
            "venue_phone_pending": entry.venue.phone_pending,
            "offer_url": links.waitlist_url(offer_secret_for(entry.secret_hash)),
            "site_url": settings.SITE_URL,
        }
        text = render_to_string(f"bookings/email/{language}/waitlist_offer.txt", context)
        html = render_to_string(f"bookings/email/{language}/waitlist_offer.html", context)
    when_short = f"{begin.month}/{begin.day} {begin:%H:%M}"
    subject = SUBJECTS[language][Kind.WAITLIST_OFFER].format(when_short=when_short, until=f"{until:%H:%M}")
    return subject, re.sub(r"\n{3,}", "\n\n", text).strip() + "\n", html


def offer_record(*, entry: WaitlistEntry, hold: Hold, now: datetime) -> Notification | None:
    """The offer's e-mail, in the caller's transaction (the one that took the seat for the entry);
    nothing when the entry left no address. One per offer (`dedupe_key`): the SMS of the same offer
    is written beside it by the SMS channel (`sms.offer_record`)."""
    texted = sms.offer_record(entry=entry, hold=hold, now=now)
    if texted is not None:
        wake(texted.pk)
    if not entry.email:
        return texted
    language = message_language(entry.language)
    notification = Notification.objects.create(
        booking=None,
        waitlist_entry=entry,
        kind=Kind.WAITLIST_OFFER,
        dedupe_key=f"waitlist_offer:{hold.pk}",
        to_address=entry.email,
        language=language,
        subject=offer_render(entry, hold=hold)[0][:200],
        next_attempt_at=now,
    )
    wake(notification.pk)
    return notification


def _offer_skip_reason(notification: Notification) -> str:
    entry = notification.waitlist_entry
    if entry is None or entry.erased_at or not notification.to_address:
        return "personal data erased"
    if entry.state != WaitlistEntry.State.OFFERED:
        return f"waiting list entry is {entry.state}"
    hold = offer_hold(entry)
    if hold is None or hold.state != Hold.State.LIVE or hold.expires_at <= clock.now():
        return "the offer has run out"
    return ""


def _offer_message(notification: Notification) -> EmailMultiAlternatives:
    entry = notification.waitlist_entry
    subject, text, html = offer_render(entry, hold=offer_hold(entry))
    return _email(
        notification,
        (subject, text, html),
        person=(entry.name, entry.phone),
        reference=f"waitlist-{entry.pk}",
    )


def _email(
    notification: Notification, rendered: tuple[str, str, str], *, person: tuple[str, str], reference: str
) -> EmailMultiAlternatives:
    """The message of a row, whatever it reports (a booking, a waiting-list offer)."""
    subject, text, html = rendered
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.to_address],
        headers={"Auto-Submitted": "auto-generated"},
    )
    message.attach_alternative(html, "text/html")
    # Not sent: tells a backend that only shows the message (scheduler.mail) what to leave out.
    message.personal_data = tuple(v for v in (*person, notification.to_address) if v)
    # And what the console's one line names, and where staff read the whole message.
    message.reference = reference
    message.full_text_path = reverse("admin:bookings_notification_change", args=[notification.pk])
    return message


CHANNEL = "bookings_outbox"


def wake(notification_id: int) -> None:
    """Have the row sent once the transaction commits. With OUTBOX_WAKE=notify (PostgreSQL) there
    is nothing to do here: the table's trigger (migration 0004) NOTIFYs `CHANNEL`, delivered at
    commit and dropped on rollback, and the outbox listeners (`manage.py outbox_listen`) send at
    once: no broker round trip, no extra statement on the request's path. Otherwise a task is
    enqueued after commit (run in-process on the embedded default)."""
    if settings.OUTBOX_WAKE != "notify":
        transaction.on_commit(functools.partial(enqueue, notification_id), robust=True)


def enqueue(notification_id: int, *, countdown: float | None = None) -> bool:
    """Hand the row to a worker; with the broker down, log and leave it pending for the sweep."""
    try:
        # By name: the task module calls this one, not the other way round (tests/test_architecture.py).
        current_app.tasks["bookings.notification_send"].apply_async((notification_id,), countdown=countdown)
    except (
        Exception
    ) as error:  # kombu OperationalError, redis ConnectionError, OSError…: never fail the booking
        logger.warning(
            "notification %s not enqueued (%s: %s); the sweep will send it",
            notification_id,
            type(error).__name__,
            error,
        )
        return False
    return True


def reminders_record(*, day: date, now: datetime) -> int:
    """One reminder per booking still confirmed for `day`; running it again adds nothing."""
    due = (
        Booking.objects.filter(
            status=Booking.Status.CONFIRMED,
            start__gte=clock.at_jst(day),
            start__lt=clock.at_jst(day + timedelta(days=1)),
            erased_at__isnull=True,
        )
        .exclude(email="", sms_opt_in=False)  # nobody to tell (an SMS row needs the opt-in)
        .select_related("venue", "procedure")
    )
    created = 0
    for booking in due.iterator():
        key = f"reminder:{booking.pk}:{day.isoformat()}"
        if Notification.objects.filter(dedupe_key=key).exists():
            continue
        try:
            with transaction.atomic():
                if record(booking=booking, kind=Kind.REMINDER, now=now, dedupe_key=key):
                    created += 1
        except IntegrityError:  # another run recorded it meanwhile
            continue
    return created


# --- Sending ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    state: str  # sent, retry, failed, skipped, or not_claimed (someone else has it, or not due)
    retry_at: datetime | None = None


def _claim(notification_id: int, now: datetime) -> bool:
    """pending (and due) → sending, or a row stuck in sending → sending again; one winner."""
    claimed = {"state": State.SENDING, "claimed_at": now, "attempts": F("attempts") + 1}
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now + CLAIM_LEEWAY)
    if Notification.objects.filter(due, pk=notification_id, state=State.PENDING).update(**claimed):
        return True
    stale = now - timedelta(seconds=settings.NOTIFICATION_STALE_SECONDS)
    return bool(
        Notification.objects.filter(pk=notification_id, state=State.SENDING, claimed_at__lt=stale).update(
            **claimed
        )
    )


def _skip_reason(notification: Notification) -> str:
    if notification.booking_id is None:
        return _offer_skip_reason(notification)
    booking = notification.booking
    if booking.erased_at or not notification.to_address:
        return "personal data erased"
    if notification.kind == Kind.REMINDER and booking.status != Booking.Status.CONFIRMED:
        return f"booking is {booking.status}"
    return ""


def build_message(notification: Notification) -> EmailMultiAlternatives:
    """The message as it goes out now, rendered from the booking (and the sealed token, if any)."""
    if notification.booking_id is None:
        return _offer_message(notification)
    booking = notification.booking
    rendered = render(
        booking, kind=notification.kind, token=unseal(notification.token_sealed), note=notification.note
    )
    message = _email(
        notification, rendered, person=(booking.name, booking.phone), reference=booking.reference
    )
    if notification.kind in (Kind.CONFIRMED, Kind.RESCHEDULED) and booking.status == Booking.Status.CONFIRMED:
        ics = booking_ics(booking, sequence=getattr(notification, "booking_events", None))
        message.attach(f"booking-{booking.reference}.ics", ics, "text/calendar")
    return message


def retry_delay(attempts: int) -> timedelta:
    """60 s, 120 s, 240 s… after the 1st, 2nd, 3rd failed attempt (base from settings)."""
    return timedelta(seconds=settings.NOTIFICATION_RETRY_SECONDS * 2 ** max(0, attempts - 1))


def deliver(*, notification_id: int, now: datetime) -> Outcome:
    """Send one outbox row at most once; SMTP errors → pending with back-off, then failed."""
    if not _claim(notification_id, now):
        return Outcome("not_claimed")
    (notification,) = _claimed_rows([notification_id])
    return _send_claimed(notification, now)


@functools.cache
def _booking_rows_sql(width: int) -> str:
    tables = {model: model._meta.db_table for model in (Notification, Booking, Venue, Procedure)}
    return (
        f"SELECT {raw_rows.columns(Notification, 'n')}, {raw_rows.columns(Booking, 'b')}, "  # noqa: S608 - names from the models
        f"{raw_rows.columns(Venue, 'v')}, {raw_rows.columns(Procedure, 'p')}, "
        f"(SELECT COUNT(*) FROM {BookingEvent._meta.db_table} e WHERE e.booking_id = n.booking_id) "
        f"FROM {tables[Notification]} n JOIN {tables[Booking]} b ON b.id = n.booking_id "
        f"JOIN {tables[Venue]} v ON v.id = b.venue_id JOIN {tables[Procedure]} p ON p.id = b.procedure_id "
        f"WHERE n.id IN ({', '.join(['%s'] * width)}) ORDER BY n.id"
    )


def _claimed_rows(ids: list[int]) -> list[Notification]:
    """The rows with what their messages show: a booking's rows (nearly all) in one raw read with
    their booking, venue and procedure and the calendar file's SEQUENCE (the booking's number of
    status changes), since the equivalent queryset cost half of a one-message pass to compile
    (2.6 of 5.0 ms under cProfile); a waiting list's offers through the ORM."""
    ids = _fixed_width(ids)
    if not ids:
        return []
    found: dict[int, Notification] = {}
    models = (Notification, Booking, Venue, Procedure)
    with connection.cursor() as cursor:
        cursor.execute(_booking_rows_sql(len(ids)), ids)
        for row in cursor.fetchall():
            parts, start = [], 0
            for model in models:
                parts.append(raw_rows.instance(model, row[start : start + raw_rows.width(model)]))
                start += raw_rows.width(model)
            notification, booking, booking.venue, booking.procedure = parts
            notification.booking = booking
            notification.booking_events = row[start]
            found[notification.pk] = notification
    offers = set(ids) - set(found)
    if offers:
        related = ("waitlist_entry__venue", "waitlist_entry__procedure")
        found.update(
            {row.pk: row for row in Notification.objects.select_related(*related).filter(pk__in=offers)}
        )
    return [found[pk] for pk in sorted(found)]


def _fixed_width(ids: list[int]) -> list[int]:
    """The ids padded to CLAIM_CHUNK by repeating one: every batch then sends PostgreSQL the same
    statement, prepared once per connection (a list of each length was a statement of its own,
    planned anew: 2 ms for this seven-table join)."""
    if not ids or len(ids) >= CLAIM_CHUNK:
        return ids
    return [*ids, *[ids[-1]] * (CLAIM_CHUNK - len(ids))]


def _claim_due(now: datetime, *, limit: int, stuck: bool = False) -> list[int]:
    """Claim up to `limit` pending rows whose back-off is over (or, `stuck`, rows left in sending
    by a sender that died), oldest first, in one statement (the sweep's and the outbox
    listener's): the ids this caller won. The outer conditions repeat the inner ones, since
    PostgreSQL re-checks only those on a row another claimer changed meanwhile: two senders
    never win the same row; rows locked by another claimer are skipped, not waited for.
    The states are literals, as in the partial indexes `notification_pending` and
    `notification_sending`, so that a prepared statement's generic plan reads them in order."""
    table = connection.ops.quote_name(Notification._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    if stuck:
        due, order = f"state = '{State.SENDING}' AND claimed_at < %s", "claimed_at"
        moment = now - timedelta(seconds=settings.NOTIFICATION_STALE_SECONDS)
    else:
        due = f"state = '{State.PENDING}' AND (next_attempt_at IS NULL OR next_attempt_at <= %s)"
        order, moment = "next_attempt_at, id", now
    skip = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    sql = (
        f"UPDATE {table} SET state = %s, claimed_at = %s, attempts = attempts + 1 WHERE {due} AND id IN "  # noqa: S608 - names from the model
        f"(SELECT id FROM {table} WHERE {due} ORDER BY {order} LIMIT %s{skip}) RETURNING id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [State.SENDING, adapt(now), adapt(moment), adapt(moment), limit])
        return sorted(row[0] for row in cursor.fetchall())


def _send_claimed(notification: Notification, now: datetime) -> Outcome:
    """Render and send a row this caller has claimed, and record how it went."""

    def mine() -> QuerySet[Notification]:  # built only off the sent path (a queryset per message)
        return Notification.objects.filter(pk=notification.pk, state=State.SENDING, claimed_at=now)

    reason = _skip_reason(notification)
    if reason:
        mine().update(state=State.SKIPPED, last_error=reason, next_attempt_at=None, token_sealed="")
        return Outcome("skipped")
    try:
        if notification.channel == Notification.Channel.SMS:
            sms.send(notification)
        else:
            build_message(notification).send()
    except Exception as error:  # smtplib.SMTPException, scheduler.sms.SmsError, OSError, timeouts…
        # The class and the SMTP codes, never the recipient: this goes to the log and to admin.
        detail = send_error_text(error)[:500]
        # An SMS the provider refused for good (a number that cannot get SMS) is not tried again.
        if notification.attempts >= settings.NOTIFICATION_MAX_ATTEMPTS or getattr(error, "permanent", False):
            logger.error(
                "notification %s failed for good after %d attempts: %s",
                notification.pk,
                notification.attempts,
                detail,
            )
            mine().update(state=State.FAILED, last_error=detail, next_attempt_at=None, token_sealed="")
            return Outcome("failed")
        retry_at = now + retry_delay(notification.attempts)
        logger.warning(
            "notification %s attempt %d failed (%s); next at %s",
            notification.pk,
            notification.attempts,
            detail,
            retry_at.isoformat(),
        )
        mine().update(state=State.PENDING, last_error=detail, next_attempt_at=retry_at)
        return Outcome("retry", retry_at)
    _mark_sent(notification.pk, claimed_at=now, sent_at=clock.now())
    return Outcome("sent")


def _mark_sent(pk: int, *, claimed_at: datetime, sent_at: datetime) -> None:
    """The claim's end, as the only statement of the message's own (one per message sent: a raw
    statement, not a queryset compiled each time). `sent_at` is when it went, not the claim's time."""
    table = connection.ops.quote_name(Notification._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET state = %s, sent_at = %s, last_error = '', next_attempt_at = NULL, "  # noqa: S608
            "token_sealed = '', body_text = '' WHERE id = %s AND state = %s AND claimed_at = %s",
            [State.SENT, adapt(sent_at), pk, State.SENDING, adapt(claimed_at)],
        )


def sweep(*, now: datetime, seconds: float | None = None, woken: bool = False) -> dict[str, int]:
    """Send everything due, a claimed batch after another, until none is left (or the time budget
    is spent: the next run goes on); safe beside the tasks and another sweep, since claims decide.
    A row tried in this sweep is not due again in it: its back-off, if any, ends after `now`.

    `woken`: the outbox listener's pass after a NOTIFY. A batch that comes back short ends it (all
    that was due was claimed; a row committed since has NOTIFYed, and the listener's connection
    keeps that for its next wait), and rows stuck in sending are left to its idle passes and to
    the periodic sweep: two statements fewer for each message of a quiet hour."""
    budget = settings.NOTIFICATION_SWEEP_SECONDS if seconds is None else seconds
    deadline = time.monotonic() + budget
    counts: dict[str, int] = {}
    # Claimed a few at a time, and every claimed row sent before the time budget is looked at: a
    # row left claimed would wait NOTIFICATION_STALE_SECONDS for another try.
    while time.monotonic() < deadline:
        claimed = _claim_due(now, limit=CLAIM_CHUNK)
        if not claimed and not woken:
            claimed = _claim_due(now, limit=CLAIM_CHUNK, stuck=True)
        if not claimed:
            break
        for notification in _claimed_rows(claimed):
            outcome = _send_claimed(notification, now)
            counts[outcome.state] = counts.get(outcome.state, 0) + 1
            metrics.outbox_delivered(outcome.state)  # notification_send's: from its task (scheduler.celery)
        if woken and len(claimed) < CLAIM_CHUNK:
            break
    return counts
