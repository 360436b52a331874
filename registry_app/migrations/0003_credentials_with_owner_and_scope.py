"""Credentials get an owner and a scope; registries say whether non-admins may use them.

A registry's stored login moves to a Credential row with owner NULL (the
registry's own login, entered by an admin) and scope "personal": admins keep
using it exactly as before, and nobody else does until an admin shares it for
pulls. No registry is usable by non-admins until an admin says so (Docker Hub
always is).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def move_logins(apps, schema_editor):
    Registry = apps.get_model("registry_app", "Registry")
    Credential = apps.get_model("registry_app", "Credential")
    for registry in Registry.objects.all():
        if registry.username:
            Credential.objects.create(
                registry=registry,
                owner=None,
                username=registry.username,
                password_encrypted=registry.password_encrypted,
                scope="personal",
            )


def move_logins_back(apps, schema_editor):
    Registry = apps.get_model("registry_app", "Registry")
    Credential = apps.get_model("registry_app", "Credential")
    for cred in Credential.objects.filter(owner__isnull=True):
        Registry.objects.filter(pk=cred.registry_id).update(
            username=cred.username, password_encrypted=cred.password_encrypted
        )


class Migration(migrations.Migration):
    dependencies = [
        ("registry_app", "0002_docker_hub"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="registry",
            name="allow_non_admins",
            field=models.BooleanField(
                default=False,
                help_text="Students and instructors may pull and push through it (never when its host is loopback or link-local). Docker Hub is always usable.",
                verbose_name="usable by non-admins",
            ),
        ),
        migrations.CreateModel(
            name="Credential",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("username", models.CharField(max_length=150)),
                ("password_encrypted", models.TextField(blank=True, editable=False)),
                (
                    "scope",
                    models.CharField(
                        choices=[
                            ("personal", "Personal: only its owner uses it"),
                            (
                                "shared-pull",
                                "Shared for pulls: everyone allowed to use the registry pulls",
                            ),
                        ],
                        default="personal",
                        max_length=16,
                    ),
                ),
                ("updated", models.DateTimeField(auto_now=True)),
                (
                    "owner",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "registry",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="credentials",
                        to="registry_app.registry",
                    ),
                ),
            ],
            options={
                "ordering": ["registry", "owner__username"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("registry", "owner"), name="one_credential_per_owner_and_registry"
                    ),
                    models.UniqueConstraint(
                        condition=models.Q(("owner__isnull", True)),
                        fields=("registry",),
                        name="one_own_credential_per_registry",
                    ),
                ],
            },
        ),
        migrations.RunPython(move_logins, move_logins_back),
        migrations.RemoveField(
            model_name="registry",
            name="password_encrypted",
        ),
        migrations.RemoveField(
            model_name="registry",
            name="username",
        ),
    ]
