from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class VenuesConfig(AppConfig):
    name = "venues"
    verbose_name = _("会場と受付時間")

    def ready(self) -> None:
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from .models import Procedure, Venue
        from .selectors import forget_kept

        for model in (Venue, Procedure):
            post_save.connect(forget_kept, sender=model, dispatch_uid=f"forget_kept_{model.__name__}")
            post_delete.connect(forget_kept, sender=model, dispatch_uid=f"forget_kept_{model.__name__}_gone")
        m2m_changed.connect(forget_kept, sender=Venue.procedures.through, dispatch_uid="forget_kept_takes")
