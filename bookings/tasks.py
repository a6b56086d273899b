"""Celery tasks: thin wrappers that read the clock, reload by id and call the services.

Schedules live in settings.CELERY_BEAT_SCHEDULE (JST). Every periodic task is idempotent:
running it twice in a row changes nothing the second time.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings

from scheduler import clock
from venues.models import Venue

from . import holds, notifications, queue, retention, waitlist
from .slots import slots_generate

logger = logging.getLogger(__name__)


@shared_task(name="bookings.notification_send", ignore_result=True)
def notification_send(notification_id: int) -> str:
    """Send one outbox row (at most once); after an SMTP error, come back after the back-off."""
    now = clock.now()
    outcome = notifications.deliver(notification_id=notification_id, now=now)
    if outcome.retry_at is not None and not notification_send.app.conf.task_always_eager:
        # If this cannot be enqueued either, the sweep picks the row up when it is due.
        notifications.enqueue(notification_id, countdown=max(1.0, (outcome.retry_at - now).total_seconds()))
    return outcome.state


@shared_task(name="bookings.notifications_sweep", ignore_result=True)
def notifications_sweep() -> dict[str, int]:
    """Rows left pending (broker was down, back-off over) or stuck in sending: send them now."""
    counts = notifications.sweep(now=clock.now())
    if counts:
        logger.info("notifications sweep: %s", counts)
    return counts


@shared_task(name="bookings.reminders_send", ignore_result=True)
def reminders_send() -> int:
    """The evening before: one reminder per booking confirmed for tomorrow (JST)."""
    now = clock.now()
    return notifications.reminders_record(day=clock.today(now) + timedelta(days=1), now=now)


@shared_task(name="bookings.slots_roll", ignore_result=True)
def slots_roll() -> int:
    """Every night: slots up to the day after each venue's horizon (the same code as
    `generate_slots`), so that the day opening at the next 00:00 JST has all its slots by then;
    the run of the night itself (00:15) only catches up one missed the night before."""
    reports = slots_generate(now=clock.now())
    return sum(report.created for report in reports)


@shared_task(name="bookings.no_shows_mark", ignore_result=True)
def no_shows_mark() -> int:
    """After a venue's last slot of the day (plus a grace period): confirmed → no_show."""
    return queue.no_shows_mark_after_last_window(now=clock.now())


@shared_task(name="bookings.personal_data_erase", ignore_result=True)
def personal_data_erase() -> int:
    """Erase name, phone, email and answers of bookings more than RETENTION_DAYS days past."""
    now = clock.now()
    before = clock.at_jst(clock.today(now) - timedelta(days=settings.RETENTION_DAYS))
    return retention.personal_data_erase(before=before, now=now)


@shared_task(name="bookings.holds_expire", ignore_result=True)
def holds_expire() -> int:
    """Every minute: expired holds give their seats back, so availability shows them free again."""
    return holds.holds_expire(now=clock.now())


@shared_task(name="bookings.sessions_purge", ignore_result=True)
def sessions_purge() -> int:
    """Every night: expired sessions leave the database, and with them what an unfinished booking
    flow had typed (name, phone, e-mail) and any hold secret."""
    return retention.sessions_purge(now=clock.now())


@shared_task(name="bookings.waitlist_pass", ignore_result=True)
def waitlist_pass(venue_id: int) -> int:
    """After a change that may have freed seats of the venue: offer them to the first in line."""
    venue = Venue.objects.filter(pk=venue_id).first()
    if venue is None:
        return 0
    return waitlist.waitlist_pass(venue=venue, now=clock.now()).offered


@shared_task(name="bookings.waitlist_sweep", ignore_result=True)
def waitlist_sweep() -> int:
    """Every minute: offers that ran out pass on, ranges that ended expire, free seats are offered."""
    report = waitlist.waitlist_sweep(now=clock.now())
    if report.offered or report.passed or report.expired:
        logger.info("waitlist sweep: %s", report)
    return report.offered
