"""Volume and network quotas, for users and for roles; the roles' defaults get values."""

from django.db import migrations, models

DEFAULTS = {"student": {"max_volumes": 10, "max_networks": 5}, "instructor": {"max_volumes": 50, "max_networks": 20}}


def seed(apps, schema_editor):
    """Roles whose defaults were never set get volume and network quotas too."""
    RoleQuota = apps.get_model("dashboard", "RoleQuota")
    for role, limits in DEFAULTS.items():
        RoleQuota.objects.filter(role=role, max_volumes=None, max_networks=None).update(**limits)


class Migration(migrations.Migration):
    dependencies = [("dashboard", "0004_image_ownership")]

    operations = [
        *[
            migrations.AddField(
                model_name=model,
                name=f"max_{kind}",
                field=models.PositiveIntegerField(blank=True, null=True, verbose_name=kind),
            )
            for model in ("quota", "rolequota")
            for kind in ("networks", "volumes")
        ],
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
