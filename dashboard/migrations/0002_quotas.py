"""Quotas: a role's defaults (RoleQuota) and a user's own (Quota), which hold the same limits."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def quota_model(name, owner, options):
    """A quota model: its id, every limit (empty is no limit), then whose quota it is."""
    return migrations.CreateModel(
        name=name,
        fields=[
            ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
            ("max_containers", models.PositiveIntegerField(blank=True, help_text="running or stopped", null=True, verbose_name="containers in total")),
            ("max_running", models.PositiveIntegerField(blank=True, help_text="running, paused or restarting", null=True, verbose_name="running containers")),
            ("memory_per_container", models.PositiveBigIntegerField(blank=True, null=True, verbose_name="memory per container (bytes)")),
            ("memory_total", models.PositiveBigIntegerField(blank=True, null=True, verbose_name="memory of running containers (bytes)")),
            ("cpus_per_container", models.FloatField(blank=True, null=True, verbose_name="CPUs per container")),
            ("cpus_total", models.FloatField(blank=True, null=True, verbose_name="CPUs of running containers")),
            ("pids_per_container", models.PositiveIntegerField(blank=True, null=True, verbose_name="pids per container")),
            owner,
        ],
        options=options,
    )


ROLES = [("admin", "Admin"), ("instructor", "Instructor"), ("student", "Student"), ("viewer", "Viewer")]


class Migration(migrations.Migration):
    dependencies = [("dashboard", "0001_initial")]

    operations = [
        quota_model(
            "RoleQuota",
            ("role", models.CharField(choices=ROLES, max_length=16, unique=True)),
            {"ordering": ["role"]},
        ),
        quota_model(
            "Quota",
            ("user", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name="quota", to=settings.AUTH_USER_MODEL)),
            {"abstract": False},
        ),
    ]
