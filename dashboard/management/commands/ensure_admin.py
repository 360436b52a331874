from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand

from dashboard.accounts import create_user
from dashboard.models import Role, User


class Command(BaseCommand):
    help = (
        "Make sure an admin account exists: 'admin' with DOCKDASH_ADMIN_PASSWORD, "
        "or a generated password printed once."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if User.objects.filter(is_superuser=True).exists():
            return
        given = os.environ.get("DOCKDASH_ADMIN_PASSWORD") or None
        user, password = create_user("admin", str(Role.ADMIN), given)
        if given:
            self.stdout.write(f"created admin user {user.username!r} (DOCKDASH_ADMIN_PASSWORD)")
        else:
            self.stdout.write(
                self.style.WARNING(
                    f"created admin user {user.username!r} with password: {password}\n"
                    "(shown once; change it under /admin/)"
                )
            )
