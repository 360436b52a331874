from django.db import migrations, models


class Migration(migrations.Migration):
    """ImageOwnership moves here from registry_app, keeping its table and rows."""

    dependencies = [
        ("dashboard", "0003_role_quota_defaults"),
        ("registry_app", "0004_image_ownership_moves_to_dashboard"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ImageOwnership",
                    # The table it keeps, before the fields it already has.
                    options={
                        "db_table": "registry_app_imageownership",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("image_id", "ref", "username"), name="unique_ownership"
                            )
                        ],
                    },
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("image_id", models.CharField(db_index=True, max_length=100)),
                        ("ref", models.CharField(max_length=512)),
                        ("username", models.CharField(db_index=True, max_length=150)),
                        ("created", models.DateTimeField(auto_now_add=True)),
                    ],
                )
            ],
            database_operations=[],
        )
    ]
