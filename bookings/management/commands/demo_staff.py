"""The demo staff logins of `make run`: created once, the same on every run, printed every time.

Their passwords are random (`secrets`), made on the first run and kept in `var/demo-logins.json`
(mode 0600; `var/` is ignored by git), so that a newcomer who restarts `make run` logs in with the
same ones. Nothing in the repository fixes them, and the command refuses to run without DEBUG=1
(`make run` sets it): a production installation has no demo login.
"""

import json
import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from venues.models import StaffMembership, Venue
from venues.scoping import STAFF_GROUP

STORE = Path(settings.BASE_DIR) / "var" / "demo-logins.json"


def stored_passwords(store: Path) -> dict[str, str]:
    try:
        return dict(json.loads(store.read_text(encoding="utf-8")))
    except (FileNotFoundError, ValueError):
        return {}


def keep_passwords(store: Path, passwords: dict[str, str]) -> None:
    store.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(store, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(passwords, file, indent=2)
    store.chmod(0o600)


class Command(BaseCommand):
    help = (
        "Create the demo logins for local use (DEBUG=1 only) and print them: an administrator and a "
        "clerk. Their passwords are made once and kept in var/demo-logins.json; --reset makes new ones."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="demo-admin")
        parser.add_argument("--clerk", default="demo-iida", help="a clerk of --clerk-venue only")
        parser.add_argument("--clerk-venue", default="iida-station")
        parser.add_argument("--reset", action="store_true", help="new passwords")
        parser.add_argument("--store", type=Path, default=STORE, help="where the passwords are kept")

    def handle(
        self, *args, username: str, clerk: str, clerk_venue: str, reset: bool, store: Path, **options
    ) -> None:
        if not settings.DEBUG:
            raise CommandError("demo logins are for local use only: run it with DEBUG=1 (as `make run` does)")
        venue = Venue.objects.filter(code=clerk_venue).first()
        if venue is None:
            raise CommandError(f"No venue {clerk_venue!r}: run `manage.py load_nagano` first.")
        passwords = {} if reset else stored_passwords(store)
        for name in (username, clerk):
            passwords.setdefault(name, secrets.token_urlsafe(12))
        keep_passwords(store, passwords)

        users = get_user_model()
        admin, _ = users.objects.get_or_create(username=username)
        admin.is_staff = admin.is_superuser = True
        if not admin.check_password(passwords[username]):
            admin.set_password(passwords[username])
        admin.save()

        user, _ = users.objects.get_or_create(username=clerk)
        user.is_staff, user.is_superuser = True, False
        if not user.check_password(passwords[clerk]):
            user.set_password(passwords[clerk])
        user.save()
        user.groups.add(Group.objects.get(name=STAFF_GROUP))
        StaffMembership.objects.get_or_create(user=user, venue=venue)

        lines = [
            "Demo staff logins (local use only): http://127.0.0.1:8000/admin/",
            f"  administrator (all venues): user {username}  password {passwords[username]}",
            f"  clerk of {venue.name}: user {clerk}  password {passwords[clerk]}",
            f"  (kept in {store}; `manage.py demo_staff --reset` makes new ones)",
        ]
        width = max(len(line) for line in lines) + 2
        rule = "=" * width
        self.stdout.write(self.style.SUCCESS(rule))
        for line in lines:
            self.stdout.write(line)
        self.stdout.write(self.style.SUCCESS(rule))
