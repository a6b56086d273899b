import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from venues.models import StaffMembership, Venue
from venues.scoping import STAFF_GROUP


class Command(BaseCommand):
    help = "Create (or reset) the demo logins for local use and print them: an administrator and a clerk."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="demo-admin")
        parser.add_argument("--clerk", default="demo-iida", help="a clerk of --clerk-venue only")
        parser.add_argument("--clerk-venue", default="iida-station")

    def handle(self, *args, username: str, clerk: str, clerk_venue: str, **options) -> None:
        users = get_user_model()
        admin_password = secrets.token_urlsafe(9)
        admin, _ = users.objects.get_or_create(username=username)
        admin.is_staff = admin.is_superuser = True
        admin.set_password(admin_password)
        admin.save()

        venue = Venue.objects.filter(code=clerk_venue).first()
        if venue is None:
            raise CommandError(f"No venue {clerk_venue!r}: run `manage.py load_nagano` first.")
        clerk_password = secrets.token_urlsafe(9)
        user, _ = users.objects.get_or_create(username=clerk)
        user.is_staff, user.is_superuser = True, False
        user.set_password(clerk_password)
        user.save()
        user.groups.add(Group.objects.get(name=STAFF_GROUP))
        StaffMembership.objects.get_or_create(user=user, venue=venue)

        self.stdout.write(
            self.style.SUCCESS("Demo staff logins (local use only): http://127.0.0.1:8000/admin/")
        )
        self.stdout.write(f"  administrator (all venues): user {username}  password {admin_password}")
        self.stdout.write(f"  clerk of {venue.name}: user {clerk}  password {clerk_password}")
