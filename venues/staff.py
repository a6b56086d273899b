"""Staff log-in locks (django-axes): what an administrator sees and lifts on the staff page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from axes.models import AccessAttempt
from axes.utils import reset
from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery, Sum
from django.utils import timezone

from .services import audit_record


def with_login_failures(users: QuerySet) -> QuerySet:
    """Each user with `login_failures`: failed log-ins of that name inside the cool-off, across
    every address (a subquery: one query for the whole staff list). On axes' clock (the real one),
    not the app's travelling clock, since axes stamps its records with it."""
    since = timezone.now() - timedelta(hours=settings.AXES_COOLOFF_TIME)
    failures = (
        AccessAttempt.objects.filter(username=OuterRef("username"), attempt_time__gte=since)
        .values("username")
        .annotate(total=Sum("failures_since_start"))
        .values("total")
    )
    return users.annotate(login_failures=Subquery(failures))


def is_locked(failures: int) -> bool:
    return failures >= settings.AXES_FAILURE_LIMIT


@transaction.atomic
def login_unlock(*, username: str, actor: Any) -> int:
    """Lift the lock of one user name (every address); audited. The number of records cleared."""
    cleared = reset(username=username)
    if cleared:
        audit_record(
            actor=actor,
            venue=None,
            object_type="staff",
            object_id=username,
            action="login_unlock",
            before={"locked": True},
            after={"locked": False},
        )
    return cleared
