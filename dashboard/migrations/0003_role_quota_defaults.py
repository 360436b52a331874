"""The default quotas of students and instructors; admins edit them under /users/quotas/."""

from django.db import migrations

MIB = 2**20
DEFAULTS = {
    "student": dict(
        max_containers=10,
        max_running=3,
        memory_per_container=256 * MIB,
        memory_total=768 * MIB,
        cpus_per_container=0.5,
        cpus_total=1.5,
        pids_per_container=256,
    ),
    "instructor": dict(
        max_containers=50,
        max_running=10,
        memory_per_container=1024 * MIB,
        memory_total=4096 * MIB,
        cpus_per_container=1.0,
        cpus_total=2.0,
        pids_per_container=1024,
    ),
}


def seed(apps, schema_editor):
    RoleQuota = apps.get_model("dashboard", "RoleQuota")
    for role, limits in DEFAULTS.items():
        RoleQuota.objects.get_or_create(role=role, defaults=limits)


class Migration(migrations.Migration):
    dependencies = [("dashboard", "0002_quotas")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
