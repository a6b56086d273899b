from django.core.management.base import BaseCommand

from scheduler.progress import ProgressLine
from venues.models import Procedure, ReceptionWindow, Venue
from venues.services import reference_data_load


class Command(BaseCommand):
    help = (
        "Create or update the Nagano venues, procedures and reception windows (idempotent). "
        "One summary line; -v 2 lists every venue and every record created or updated."
    )

    def handle(self, *args, verbosity: int = 1, **options) -> None:
        progress = ProgressLine(self.stdout, verbosity)
        report = reference_data_load(progress=lambda message: progress.step(f"  {message}"))
        progress.done()
        for label in report.created:
            progress.detail(f"  + {label}")
        for label in report.updated:
            progress.detail(f"  ~ {label}")
        if verbosity >= 1:
            self.stdout.write(
                self.style.SUCCESS(
                    f"load_nagano: {Venue.objects.count()} venues, {Procedure.objects.count()} procedures, "
                    f"{ReceptionWindow.objects.count()} windows ({len(report.created)} created, "
                    f"{len(report.updated)} updated, {report.unchanged} unchanged)"
                )
            )
