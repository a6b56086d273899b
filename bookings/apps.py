from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BookingsConfig(AppConfig):
    name = "bookings"
    verbose_name = _("予約")

    def ready(self) -> None:
        from venues.planning import seat_planner_register

        from . import availability_cache, planning, tasks  # noqa: F401 - tasks: registered in every process

        availability_cache.connect()
        seat_planner_register(planning)
