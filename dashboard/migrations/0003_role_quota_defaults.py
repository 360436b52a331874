"""The default quotas of students and instructors; admins edit them under /users/quotas/."""

from django.db import migrations

MIB = 2**20
ROLES = ("student", "instructor")
# Each limit's default for the roles above, in their order.
DEFAULTS = {
    "max_containers": (10, 50),
    "max_running": (3, 10),
    "memory_per_container": (256 * MIB, 1024 * MIB),
    "memory_total": (768 * MIB, 4096 * MIB),
    "cpus_per_container": (0.5, 1.0),
    "cpus_total": (1.5, 2.0),
    "pids_per_container": (256, 1024),
}


def seed(apps, schema_editor):
    RoleQuota = apps.get_model("dashboard", "RoleQuota")
    for column, role in enumerate(ROLES):
        limits = {limit: values[column] for limit, values in DEFAULTS.items()}
        RoleQuota.objects.get_or_create(role=role, defaults=limits)


class Migration(migrations.Migration):
    dependencies = [("dashboard", "0002_quotas")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
