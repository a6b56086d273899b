from django.core.management.base import BaseCommand, CommandError

from bookings.slots import slots_generate


class Command(BaseCommand):
    help = (
        "Create slots up to the day after the booking horizon, which opens at the next 00:00 JST "
        "(or --days ahead); idempotent, keeps booked seats."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--days", type=int, default=None, help="days ahead (default: each venue's horizon + 1)"
        )

    def handle(self, *args, days=None, **options) -> None:
        if days is not None and not 0 <= days <= 366:
            raise CommandError("--days must be between 0 and 366")

        def progress(index, total, report) -> None:
            self.stdout.write(f"[{index}/{total}] {report}")

        reports = slots_generate(days=days, progress=progress)
        created = sum(r.created for r in reports)
        updated = sum(r.updated for r in reports)
        removed = sum(r.withdrawn + r.deleted for r in reports)
        self.stdout.write(
            self.style.SUCCESS(
                f"generate_slots: {created} created, {updated} updated, {removed} withdrawn or deleted"
            )
        )
