from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from dashboard import api_tokens, audit
from dashboard.models import ApiToken


class Command(BaseCommand):
    help = "Make an API token for a user (`token create NAME`); prints only its key."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="make a token; its key is printed once")
        create.add_argument("username")
        create.add_argument("--name", default="manage.py", help="what the token is for")
        create.add_argument(
            "--scope", choices=ApiToken.Scope.values, default=ApiToken.Scope.READ_ONLY
        )
        create.add_argument(
            "--days", type=int, default=settings.API_TOKEN_DAYS, help="lifetime in days"
        )

    def handle(self, *args: Any, username: str, name: str, scope: str, days: int, **kw: Any):
        owner = get_user_model().objects.filter(username=username).first()
        if owner is None:
            raise CommandError(f"no user named {username!r}")
        error = api_tokens.lifetime_error(days)
        if error:
            raise CommandError(error)
        token, key = api_tokens.issue(owner, name, scope, days)
        audit.record(
            None,
            "token.create",
            user=owner,
            target_kind="token",
            target_id=str(token.pk),
            target_name=name,
            params=api_tokens.described(token) | {"made_with": "manage.py token"},
        )
        self.stdout.write(key)
