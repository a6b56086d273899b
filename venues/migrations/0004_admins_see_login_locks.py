"""県管理者 see admin login lockouts (django-axes) and may lift them."""

from django.db import migrations

ADMIN_GROUP = "県管理者"
AXES_PERMISSIONS = [
    ("axes", "view_accessattempt"),
    ("axes", "delete_accessattempt"),
    ("axes", "view_accessfailurelog"),
]


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("axes")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    admin = Group.objects.filter(name=ADMIN_GROUP).first()
    if admin is None:
        return
    for app_label, codename in AXES_PERMISSIONS:
        admin.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    admin = Group.objects.filter(name=ADMIN_GROUP).first()
    if admin is not None:
        codenames = [codename for _, codename in AXES_PERMISSIONS]
        admin.permissions.remove(
            *Permission.objects.filter(content_type__app_label="axes", codename__in=codenames)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("venues", "0003_venue_hold_minutes"),
        ("axes", "0010_accessattemptexpiration"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
