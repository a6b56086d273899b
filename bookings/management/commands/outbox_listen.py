from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from bookings import outbox
from scheduler import metrics


class Command(BaseCommand):
    help = (
        "Send outbox rows as soon as their transaction commits (PostgreSQL LISTEN/NOTIFY); run one or "
        "more beside the Celery worker. Prints a line for every batch sent."
    )

    def handle(self, *args, **options) -> None:
        if settings.OUTBOX_WAKE != "notify":
            raise CommandError("outbox_listen needs OUTBOX_WAKE=notify (PostgreSQL)")
        total: dict[str, int] = {}

        def progress(counts: dict[str, int]) -> None:
            for state, n in counts.items():
                total[state] = total.get(state, 0) + n
            self.stdout.write(f"outbox: {counts} (since start: {total})")

        metrics.serve_from_settings()  # with METRICS_PORT: this process's counters for Prometheus
        self.stdout.write("outbox: listening")
        try:
            outbox.listen(progress=progress)
        except KeyboardInterrupt:
            self.stdout.write(f"outbox: stopped (since start: {total})")
