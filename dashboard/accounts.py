"""Creating accounts: shared by the management commands and the user pages."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError

from dashboard.access import SYSTEM
from dashboard.models import Role, User

# No characters a person copying from a printed sheet could mistake for another: 0/O/o, 1/l/I.
PASSWORD_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
PASSWORD_LENGTH = 14  # ~80 bits from this alphabet


def generate_password() -> str:
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))


def check_username(username: str) -> None:
    """ValidationError unless `username` may name a new account (taken or not)."""
    UnicodeUsernameValidator()(username)
    longest = User._meta.get_field("username").max_length
    if longest is not None and len(username) > longest:
        raise ValidationError(f"a username is at most {longest} characters, not {len(username)}")
    if username == SYSTEM.username:
        raise ValidationError(f"{username!r} is the name the dashboard's own actions go by")


def create_user(
    username: str, role: str, password: str | None = None, *, directory: bool = False
) -> tuple[User, str]:
    """Create `username` with `role`; returns the user and its password (generated if None).

    A `directory` account has no usable password (its owner signs in against the
    directory, dashboard.ldap_directory): its password is answered as "".
    """
    check_username(username)
    if role not in Role.values:
        raise ValidationError(f"role must be one of {', '.join(Role.values)}, not {role!r}")
    model = get_user_model()
    if model.objects.filter(username=username).exists():
        raise ValidationError(f"a user named {username!r} already exists")
    password = "" if directory else password or generate_password()
    user = model.objects.create_user(
        username=username,
        password=password or None,  # None: an unusable password
        role=role,
        is_staff=role == Role.ADMIN,
        is_superuser=role == Role.ADMIN,
    )
    return user, password


def set_role(user: User, role: str) -> None:
    """Give `user` the role, with the admin-site flags that go with it."""
    if role not in Role.values:
        raise ValidationError(f"role must be one of {', '.join(Role.values)}, not {role!r}")
    user.role = role
    user.is_staff = user.is_superuser = role == Role.ADMIN
    user.save(update_fields=["role", "is_staff", "is_superuser"])
