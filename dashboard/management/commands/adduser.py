from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from dashboard.accounts import create_user
from dashboard.models import Role


class Command(BaseCommand):
    help = "Create a dockdash user with a role; prints a generated password unless given one."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--password-file", type=Path, help="read the password from this file")

    def handle(self, *args: Any, name: str, role: str, password_file: Path | None, **kw: Any):
        password = None
        if password_file is not None:
            try:
                password = password_file.read_text().strip()
            except OSError as exc:
                raise CommandError(f"cannot read {password_file}: {exc.strerror}") from exc
            if not password:
                raise CommandError(f"{password_file} is empty")
        try:
            user, password = create_user(name, role, password)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"created {user.username} ({role})")
        if password_file is None:
            self.stdout.write(f"password: {password}")
