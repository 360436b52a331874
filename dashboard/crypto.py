"""Encryption at rest for stored secrets: registry passwords, engines' TLS client keys.

The key never lives in the database: it is `DOCKDASH_CREDENTIALS_KEY` (a Fernet
key) when set, otherwise derived from SECRET_KEY with HKDF, so a copy of the
database file alone reveals no secret.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_HKDF_INFO = b"dockdash registry credentials v1"


def derive_key(secret: str) -> bytes:
    """A Fernet key derived from `secret` (SECRET_KEY) with HKDF-SHA256."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        secret.encode()
    )
    return base64.urlsafe_b64encode(raw)


@lru_cache(maxsize=4)
def _fernet(configured: str, secret: str) -> Fernet:
    if configured:
        try:
            return Fernet(configured.encode())
        except ValueError as exc:
            raise ImproperlyConfigured(
                "DOCKDASH_CREDENTIALS_KEY must be a Fernet key (32 url-safe base64-encoded "
                "bytes, e.g. from `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)"
            ) from exc
    return Fernet(derive_key(secret))


def fernet() -> Fernet:
    return _fernet(settings.DOCKDASH_CREDENTIALS_KEY, settings.SECRET_KEY)


def encrypt(plain: str) -> str:
    return "" if not plain else fernet().encrypt(plain.encode()).decode()


class UndecryptableSecret(Exception):
    """The stored secret was written under another key (SECRET_KEY changed?)."""


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise UndecryptableSecret(
            "The stored secret cannot be decrypted with the current key "
            "(SECRET_KEY or DOCKDASH_CREDENTIALS_KEY changed): enter it again."
        ) from None
