"""The two staff roles as Django groups, so that a new staff user is one checkbox away from working.

- 会場職員 (venue staff): runs the day's queue and plans its own venues (windows, counters,
  closures); which venues is set by 担当会場 (StaffMembership), edited by administrators.
- 県管理者 (prefecture administrator): everything on venues and bookings, for every venue, and
  the staff accounts.

Which venues a user sees is decided in venues/scoping.py; these groups only grant the permissions.
"""

from django.db import migrations

STAFF_GROUP = "会場職員"
ADMIN_GROUP = "県管理者"

STAFF_PERMISSIONS = [
    ("venues", "view_procedure"),
    ("venues", "view_venue"),
    ("venues", "view_receptionwindow"),
    ("venues", "add_receptionwindow"),
    ("venues", "change_receptionwindow"),
    ("venues", "view_closure"),
    ("venues", "add_closure"),
    ("venues", "change_closure"),
    ("venues", "delete_closure"),
    ("venues", "view_auditentry"),
    ("bookings", "view_slot"),
    ("bookings", "view_booking"),
    ("bookings", "add_booking"),
    ("bookings", "change_booking"),
    ("bookings", "view_bookingevent"),
]

ADMIN_EXTRA_PERMISSIONS = [
    ("auth", "view_user"),
    ("auth", "add_user"),
    ("auth", "change_user"),
    ("auth", "view_group"),
]


def _ensure_permissions(apps):
    """Permissions are normally created after all migrations; make sure they exist now."""
    from django.contrib.auth.management import create_permissions

    for label in ("auth", "venues", "bookings"):
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None


def create_roles(apps, schema_editor):
    _ensure_permissions(apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    def perms(pairs):
        found = []
        for app_label, codename in pairs:
            found.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        return found

    staff, _ = Group.objects.get_or_create(name=STAFF_GROUP)
    staff.permissions.set(perms(STAFF_PERMISSIONS))

    admin, _ = Group.objects.get_or_create(name=ADMIN_GROUP)
    everything = Permission.objects.filter(content_type__app_label__in=["venues", "bookings"])
    admin.permissions.set([*everything, *perms(ADMIN_EXTRA_PERMISSIONS)])


def remove_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.filter(name__in=[STAFF_GROUP, ADMIN_GROUP]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("venues", "0001_initial"),
        ("bookings", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
