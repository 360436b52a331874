"""The test OpenID Connect provider's process: `python -m tests.oidc_provider.serve PORT SETUP`.

Migrates its (fresh) database, makes the people and the client that the JSON file SETUP
names, then serves on 127.0.0.1:PORT until it is terminated.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def make(setup: dict[str, Any]) -> None:
    from django.contrib.auth.models import Group, User
    from oauth2_provider.models import Application

    for person in setup["people"]:
        user = User.objects.create_user(
            person["username"], email=person["email"], password=person["password"]
        )
        user.groups.set(Group.objects.get_or_create(name=name)[0] for name in person["groups"])
    Application.objects.create(
        name="dockdash",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        algorithm=Application.RS256_ALGORITHM,
        skip_authorization=True,  # no consent page: the school's own dashboard
        **setup["client"],
    )


def main(port: int, setup: Path) -> None:
    import django
    from django.core.management import call_command
    from django.core.servers.basehttp import run
    from django.core.wsgi import get_wsgi_application

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    make(json.loads(setup.read_text()))
    run("127.0.0.1", port, get_wsgi_application(), threading=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]))
