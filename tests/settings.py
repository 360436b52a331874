"""Settings for the test process: the real ones, with a throwaway key and a fast hasher."""

import os

os.environ.setdefault("SECRET_KEY", "dockdash-tests-only-not-secret")

from dashboard.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
