"""Docker Hub is present by default, without credentials (anonymous pulls)."""

from django.db import migrations

HUB_URL = "https://index.docker.io/v1/"


def add_docker_hub(apps, schema_editor):
    Registry = apps.get_model("registry_app", "Registry")
    if not Registry.objects.filter(url=HUB_URL).exists():
        Registry.objects.create(name="Docker Hub", url=HUB_URL)


def remove_docker_hub(apps, schema_editor):
    Registry = apps.get_model("registry_app", "Registry")
    Registry.objects.filter(url=HUB_URL, username="").delete()


class Migration(migrations.Migration):
    dependencies = [("registry_app", "0001_initial")]
    operations = [migrations.RunPython(add_docker_hub, remove_docker_hub)]
