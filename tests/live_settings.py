"""Settings of the servers and management commands tests start: the real ones, with a fast
password hasher (PBKDF2 costs a few tenths of a second per login and per user made here)."""

from dashboard.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
