import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create (or reset) the demo staff login for local use and print it."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="demo-admin")

    def handle(self, *args, username: str, **options) -> None:
        password = secrets.token_urlsafe(9)
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.is_staff = True
        user.is_superuser = True
        user.set_password(password)
        user.save()
        self.stdout.write(self.style.SUCCESS("Demo staff login (local use only):"))
        self.stdout.write(
            f"  URL:      http://127.0.0.1:8000/admin/\n  user:     {username}\n  password: {password}"
        )
