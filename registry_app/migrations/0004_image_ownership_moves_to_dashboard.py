from django.db import migrations


class Migration(migrations.Migration):
    """ImageOwnership now belongs to dashboard (the rules read it); its table stays."""

    dependencies = [("registry_app", "0003_credentials_with_owner_and_scope")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="ImageOwnership")],
            database_operations=[],
        )
    ]
