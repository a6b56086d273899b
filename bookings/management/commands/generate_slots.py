from django.core.management.base import BaseCommand, CommandError

from bookings.slots import slots_generate
from scheduler.progress import ProgressLine


class Command(BaseCommand):
    help = (
        "Create slots up to the day after the booking horizon, which opens at the next 00:00 JST "
        "(or --days ahead); idempotent, keeps booked seats. One summary line; -v 2 shows each venue."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--days", type=int, default=None, help="days ahead (default: each venue's horizon + 1)"
        )

    def handle(self, *args, days=None, verbosity: int = 1, **options) -> None:
        if days is not None and not 0 <= days <= 366:
            raise CommandError("--days must be between 0 and 366")
        progress = ProgressLine(self.stdout, verbosity)

        def step(index, total, report) -> None:
            progress.step(f"[{index}/{total}] {report}")

        reports = slots_generate(days=days, progress=step)
        progress.done()
        created = sum(r.created for r in reports)
        updated = sum(r.updated for r in reports)
        removed = sum(r.withdrawn + r.deleted for r in reports)
        if verbosity >= 1:
            self.stdout.write(
                self.style.SUCCESS(
                    f"generate_slots: {len(reports)} venues, {created} created, {updated} updated, "
                    f"{removed} withdrawn or deleted"
                )
            )
