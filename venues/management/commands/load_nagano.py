from django.core.management.base import BaseCommand

from venues.services import reference_data_load


class Command(BaseCommand):
    help = "Create or update the Nagano venues, procedures and reception windows (idempotent)."

    def handle(self, *args, **options) -> None:
        report = reference_data_load(progress=lambda message: self.stdout.write(f"  {message}"))
        for label in report.created:
            self.stdout.write(f"  + {label}")
        for label in report.updated:
            self.stdout.write(f"  ~ {label}")
        self.stdout.write(
            self.style.SUCCESS(
                f"load_nagano: {len(report.created)} created, {len(report.updated)} updated, "
                f"{report.unchanged} unchanged"
            )
        )
