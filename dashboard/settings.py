"""Settings for dockdash, every knob read from the environment (see README)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from dashboard.envconf import (
    database_from_url,
    env_abs_paths,
    env_bool,
    env_float,
    env_int,
    env_ldap,
    env_list,
    env_oidc,
    env_port_range,
    env_str,
    env_subnet,
)

BASE_DIR = Path(__file__).resolve().parent.parent
LOCAL_DIR = BASE_DIR / ".local"

DEBUG = env_bool("DOCKDASH_DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment (`make run` generates one "
            "into .local/secret_key), or set DOCKDASH_DEBUG=1 for a development key."
        )
    SECRET_KEY = "dockdash-insecure-development-key"  # noqa: S105 - DEBUG only

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DOCKDASH_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "drf_spectacular",
    # Before dashboard: its login-failure receiver runs first, so ours sees the lockout it set.
    "axes",
    "csp",
    "dashboard",
    "containers_app",
    "registry_app",
    "classes_app",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "dashboard.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "dashboard.middleware.EngineMiddleware",
    "dashboard.middleware.EngineErrorMiddleware",
    # Last, as its docs say: turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dashboard.urls"
ASGI_APPLICATION = "dashboard.asgi.application"
AUTH_USER_MODEL = "dashboard.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Login throttling (django-axes). Its backend comes first so that every backend after it
# (the model backend, the LDAP one when configured) is refused while a name+address is locked;
# the OpenID Connect one, told no name before the provider answers, asks axes itself.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("DOCKDASH_LOGIN_FAILURES", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("DOCKDASH_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
# Lock the pair: a student mistyping from the lab's shared address locks only their own name.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# The address the socket saw, never a client-chosen X-Forwarded-For (that would reset the count).
AXES_CLIENT_IP_CALLABLE = "dashboard.login_throttle.client_address"
AXES_LOCKOUT_CALLABLE = "dashboard.login_throttle.lockout_response"
AXES_RESET_ON_SUCCESS = True
# Tries during a lockout do not extend it: the page can say when it ends.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_VERBOSE = False

# Sign-in against the school's LDAP directory (dashboard.ldap_directory), off unless
# DOCKDASH_LDAP_URI is set: django-auth-ldap's AUTH_LDAP_* settings and dockdash's LDAP_*.
# Its backend comes after the model backend, so local accounts (the admin `make run`
# makes) sign in whether the directory answers or not.
LDAP_ROLES = ("admin", "instructor", "student", "viewer")  # dashboard.models.Role's values
_ldap = env_ldap(LDAP_ROLES)  # {} when off
globals().update(_ldap)
LDAP_ENABLED = bool(_ldap)
if LDAP_ENABLED:
    AUTHENTICATION_BACKENDS.append("dashboard.ldap_directory.DirectoryBackend")

# Sign-in through an OpenID Connect provider (dashboard.oidc), off unless DOCKDASH_OIDC_ISSUER
# is set: mozilla-django-oidc's OIDC_RP_* settings and dockdash's OIDC_*. Its backend comes
# last; it checks the axes lock itself once the provider has named the account.
_oidc = env_oidc(LDAP_ROLES)  # only OIDC_ISSUER, empty, when off; no setting (the secret)
globals().update(_oidc)
if _oidc["OIDC_ISSUER"]:
    AUTHENTICATION_BACKENDS.append("dashboard.oidc.ProviderBackend")

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dashboard.context_processors.engine_endpoint",
                "dashboard.context_processors.sign_in",
            ],
            "builtins": ["dashboard.templatetags.units"],
        },
    },
]

if "DATABASE_URL" not in os.environ:
    os.makedirs(LOCAL_DIR, exist_ok=True)
DATABASES = {
    "default": database_from_url(env_str("DATABASE_URL", f"sqlite:///{LOCAL_DIR / 'db.sqlite3'}"))
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# With REDIS_URL, each process refreshes its open terminal sessions in the list all processes
# share this often (containers_app.sessions): a process gone, its sessions leave the list.
SESSION_HEARTBEAT = env_float("DOCKDASH_SESSION_HEARTBEAT", 10.0, minimum=0.5)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("DOCKDASH_TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("DOCKDASH_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the app folders as well, so a checkout works before collectstatic.
WHITENOISE_USE_FINDERS = True

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("DOCKDASH_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# Everything the pages load is vendored, so one origin is enough, and no script runs
# inline (no <script> blocks, no on* handlers, no eval). Styles allow 'unsafe-inline'
# only because xterm.js (logs, terminal) writes its layout into <style> elements and
# colours 24-bit text with style attributes; the templates themselves use classes (a
# test keeps them so). Images, fonts and connections are 'self' only, so injected CSS
# has nowhere to send what it could match.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        # 'self' covers ws:// and wss:// to the same host and port (CSP level 3).
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first, so an anonymous call answers 401 with a WWW-Authenticate header.
        "dashboard.api_tokens.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "dashboard.api.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "dockdash API",
    "DESCRIPTION": "Control one Docker host: engine, containers, images, networks, volumes.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema maps every endpoint: like the API itself, for signed-in users only.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
}

# API tokens (dashboard.api_tokens): the days a new one lasts unless its maker picks another
# lifetime, and the longest they may pick; every token expires.
API_TOKEN_DAYS = env_int("DOCKDASH_API_TOKEN_DAYS", 90, minimum=1)
API_TOKEN_MAX_DAYS = env_int("DOCKDASH_API_TOKEN_MAX_DAYS", 365, minimum=1)
if API_TOKEN_DAYS > API_TOKEN_MAX_DAYS:
    raise ImproperlyConfigured(
        f"DOCKDASH_API_TOKEN_DAYS ({API_TOKEN_DAYS}) must not exceed "
        f"DOCKDASH_API_TOKEN_MAX_DAYS ({API_TOKEN_MAX_DAYS}): new tokens would outlive the limit."
    )

# The Docker engine this dashboard drives.
DOCKER_HOST = env_str("DOCKDASH_DOCKER_HOST") or env_str(
    "DOCKER_HOST", "unix:///var/run/docker.sock"
)
# The name that engine goes by, where the dashboard knows several (containers_app.engines).
ENGINE_NAME = env_str("DOCKDASH_ENGINE_NAME", "local")
# With REDIS_URL: that engine's cgroups are read by `manage.py agent` on its node, and the
# web processes only fan its frames out (containers_app.agent).
STATS_AGENT = env_bool("DOCKDASH_STATS_AGENT", False)
# The host's /proc as this process sees it (a stats agent in a container: where it is mounted).
PROC_DIR = env_str("DOCKDASH_PROC", "/proc")
DOCKER_TIMEOUT = env_int("DOCKDASH_DOCKER_TIMEOUT", 30, minimum=1)
STATS_INTERVAL = env_float("DOCKDASH_STATS_INTERVAL", 1.0, minimum=0.1)
# Seconds the sampler keeps running after its last viewer left (a reload must not restart it).
STATS_GRACE = env_float("DOCKDASH_STATS_GRACE", 30.0, minimum=0.0)
# Stats history in the database (containers_app.history), written by one server process
# per host: HISTORY_FINE_STEP-second means kept HISTORY_FINE_RETENTION seconds, and
# HISTORY_COARSE_STEP-second means kept HISTORY_COARSE_RETENTION seconds; pruned every
# HISTORY_PRUNE_INTERVAL seconds. While no page watches, that process samples once a
# fine step (rates are then the means over the step, from the cgroup counters).
STATS_HISTORY = env_bool("DOCKDASH_STATS_HISTORY", True)
HISTORY_FINE_STEP = env_int("DOCKDASH_HISTORY_FINE_STEP", 10, minimum=1)
HISTORY_COARSE_STEP = env_int("DOCKDASH_HISTORY_COARSE_STEP", 60, minimum=1)
HISTORY_FINE_RETENTION = env_int("DOCKDASH_HISTORY_FINE_RETENTION", 24 * 3600, minimum=1)
HISTORY_COARSE_RETENTION = env_int("DOCKDASH_HISTORY_COARSE_RETENTION", 7 * 24 * 3600, minimum=1)
HISTORY_PRUNE_INTERVAL = env_float("DOCKDASH_HISTORY_PRUNE_INTERVAL", 600.0, minimum=0.5)
# Alerts (containers_app.alerts, rules in dashboard.alert_rules), evaluated each
# ALERT_INTERVAL seconds by one server process per host, which then keeps the sampler
# sweeping. A restart loop: ALERT_RESTARTS exits within ALERT_RESTART_MINUTES; CPU pinned:
# throttled on most ticks of ALERT_CPU_SECONDS; memory at ALERT_MEMORY_PERCENT of its limit;
# a quota at ALERT_QUOTA_PERCENT; an OOM alert resolves ALERT_OOM_CLEAR_SECONDS after the
# last kill; one resolved less than ALERT_REOPEN_SECONDS ago fires again as itself.
ALERTS = env_bool("DOCKDASH_ALERTS", True)
ALERT_INTERVAL = env_float("DOCKDASH_ALERT_INTERVAL", 1.0, minimum=0.1)
ALERT_RESTARTS = env_int("DOCKDASH_ALERT_RESTARTS", 3, minimum=2)
ALERT_RESTART_MINUTES = env_float("DOCKDASH_ALERT_RESTART_MINUTES", 5.0, minimum=0.1)
ALERT_CPU_SECONDS = env_float("DOCKDASH_ALERT_CPU_SECONDS", 30.0, minimum=1.0)
ALERT_MEMORY_PERCENT = env_float("DOCKDASH_ALERT_MEMORY_PERCENT", 90.0, minimum=1.0)
ALERT_QUOTA_PERCENT = env_float("DOCKDASH_ALERT_QUOTA_PERCENT", 90.0, minimum=1.0)
ALERT_OOM_CLEAR_SECONDS = env_float("DOCKDASH_ALERT_OOM_CLEAR_SECONDS", 300.0, minimum=1.0)
ALERT_REOPEN_SECONDS = env_float("DOCKDASH_ALERT_REOPEN_SECONDS", 300.0, minimum=0.0)
# Notifications: each address at most ALERT_NOTIFY_PER_HOUR an hour, each tried
# ALERT_NOTIFY_TRIES times, ALERT_RETRY_SECONDS apart (doubling).
ALERT_NOTIFY_PER_HOUR = env_int("DOCKDASH_ALERT_NOTIFY_PER_HOUR", 20, minimum=1)
ALERT_NOTIFY_TRIES = env_int("DOCKDASH_ALERT_NOTIFY_TRIES", 3, minimum=1)
ALERT_RETRY_SECONDS = env_float("DOCKDASH_ALERT_RETRY_SECONDS", 5.0, minimum=0.0)
ALERT_WEBHOOK_TIMEOUT = env_float("DOCKDASH_ALERT_WEBHOOK_TIMEOUT", 5.0, minimum=0.5)
# Hosts at private or local addresses that webhooks of instructors may reach (admins' may
# reach any): the engine's API or a metadata service must not take their POSTs.
ALERT_WEBHOOK_PRIVATE_HOSTS = [h.lower() for h in env_list("DOCKDASH_ALERT_WEBHOOK_PRIVATE_HOSTS")]
# The dashboard's address as people reach it, for links in notifications ("": no links).
PUBLIC_URL = env_str("DOCKDASH_PUBLIC_URL").rstrip("/")
# Email (Django's SMTP backend): off until DOCKDASH_EMAIL_HOST is set.
EMAIL_HOST = env_str("DOCKDASH_EMAIL_HOST")
EMAIL_PORT = env_int("DOCKDASH_EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("DOCKDASH_EMAIL_USER")
EMAIL_HOST_PASSWORD = env_str("DOCKDASH_EMAIL_PASSWORD")
EMAIL_USE_TLS = env_bool("DOCKDASH_EMAIL_STARTTLS", False)
EMAIL_USE_SSL = env_bool("DOCKDASH_EMAIL_SSL", False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env_str("DOCKDASH_EMAIL_FROM", "dockdash@localhost")
# Log streams followed at once per process (each holds one thread while it reads).
LOG_STREAM_WORKERS = env_int("DOCKDASH_LOG_STREAM_WORKERS", 32, minimum=2)
# Log views one user may follow at once (instructors and admins twice as many, still below
# the server cap), so nobody can take every stream of the server from everyone else.
LOG_STREAMS_PER_USER = env_int("DOCKDASH_LOG_STREAMS_PER_USER", 4, minimum=1)
if LOG_STREAMS_PER_USER >= LOG_STREAM_WORKERS:
    raise ImproperlyConfigured(
        f"DOCKDASH_LOG_STREAMS_PER_USER must be below DOCKDASH_LOG_STREAM_WORKERS "
        f"({LOG_STREAM_WORKERS}), not {LOG_STREAMS_PER_USER}: one user would take every stream."
    )
# The bearer token that opens GET /metrics to a Prometheus server; empty: /metrics is off.
METRICS_TOKEN = env_str("DOCKDASH_METRICS_TOKEN").strip()
# Seconds the engine's disk usage (`/system/df`, slow and one at a time) is reused by pages.
DISK_USAGE_CACHE_SECONDS = env_float("DOCKDASH_DISK_USAGE_CACHE", 5.0, minimum=0.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("DOCKDASH_LOG_LEVEL", "INFO")},
    "loggers": {"daphne": {"level": "WARNING"}, "django.channels.server": {"level": "WARNING"}},
}

# Registry passwords are encrypted with this Fernet key; empty: derived from SECRET_KEY (HKDF).
DOCKDASH_CREDENTIALS_KEY = env_str("DOCKDASH_CREDENTIALS_KEY")

# Shared host: what non-admins may publish and bind, and where per-user
# create/start locks live (a folder on this host; see dashboard/quotas.py).
STUDENT_PORT_RANGE = env_port_range("DOCKDASH_STUDENT_PORT_RANGE", (20000, 29999))
# Each student's lab network gets a /28 of this (the engine's own pools hold ~30 networks).
LAB_SUBNETS = env_subnet("DOCKDASH_LAB_SUBNETS", "10.89.0.0/16", longest=28)
BIND_ALLOWLIST = env_abs_paths("DOCKDASH_BIND_ALLOWLIST")
LOCK_DIR = Path(env_str("DOCKDASH_LOCK_DIR", str(LOCAL_DIR / "locks")))

# Jobs a stopped process left running (registry_app.recovery): each server process saves
# its running jobs' heartbeat at least every JOB_HEARTBEAT seconds and, at start and every
# JOB_HEARTBEAT seconds, fails the running jobs of processes that are gone.
JOB_RECOVERY = env_bool("DOCKDASH_JOB_RECOVERY", True)
JOB_HEARTBEAT = env_float("DOCKDASH_JOB_HEARTBEAT", 10.0, minimum=0.5)

# End of lesson (classes_app.culling): a lab container quiet (CPU under CULL_CPU_PERCENT of
# one core, no terminal open) for its lab's idle_minutes is stopped, and everything of a
# lab at its ends_at; checked every CULL_INTERVAL seconds by one server process per host.
CULL_ENABLED = env_bool("DOCKDASH_CULL", True)
CULL_INTERVAL = env_float("DOCKDASH_CULL_INTERVAL", 30.0, minimum=0.5)
CULL_CPU_PERCENT = env_float("DOCKDASH_CULL_CPU_PERCENT", 5.0, minimum=0.0)
# Seconds of quiet that count as a lab's whole idle window, instead of its idle_minutes
# (0: each lab's own); for demonstrations and tests.
CULL_IDLE_SECONDS = env_float("DOCKDASH_CULL_IDLE_SECONDS", 0.0, minimum=0.0)
CULL_WARN_MINUTES = env_int("DOCKDASH_CULL_WARN_MINUTES", 5, minimum=1)
CULL_WARN_POLL = env_float("DOCKDASH_CULL_WARN_POLL", 20.0, minimum=0.5)  # s between page polls
LAB_EXTEND_MAX_MINUTES = env_int("DOCKDASH_LAB_EXTEND_MAX_MINUTES", 60, minimum=0)
