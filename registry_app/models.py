"""Registries (with encrypted credentials), pull/push/build jobs, and who owns which image."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import models
from django.utils import timezone

from dashboard import crypto
from registry_app import processes

DOCKER_HUB_URL = "https://index.docker.io/v1/"
DOCKER_HUB_HOSTS = {"docker.io", "index.docker.io", "registry-1.docker.io"}


def split_url(url: str) -> tuple[str, str]:
    """(scheme, host[:port]) of a registry URL; a bare `host:port` means https."""
    text = url.strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    return parts.scheme or "https", parts.netloc


class Registry(models.Model):
    name = models.CharField(max_length=100, unique=True)
    url = models.CharField(
        max_length=255, help_text="e.g. https://registry.example.org or http://127.0.0.1:5000"
    )
    allow_non_admins = models.BooleanField(
        "usable by non-admins",
        default=False,
        help_text="Students and instructors may pull and push through it (never when its host "
        "is loopback or link-local). Docker Hub is always usable.",
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "registries"

    def __str__(self) -> str:
        return self.name

    @property
    def is_docker_hub(self) -> bool:
        return self.host in DOCKER_HUB_HOSTS

    @property
    def host(self) -> str:
        """The registry part of an image reference (`127.0.0.1:5000`, `docker.io`)."""
        _, netloc = split_url(self.url)
        return "docker.io" if netloc in DOCKER_HUB_HOSTS else netloc

    @property
    def api_base(self) -> str:
        """Base URL of the Registry HTTP API v2."""
        if self.is_docker_hub:
            return "https://registry-1.docker.io"
        scheme, netloc = split_url(self.url)
        return f"{scheme}://{netloc}"

    def own_credential(self) -> Credential | None:
        """The registry's own login, stored by an admin in the registry form (owner None)."""
        return self.credentials.filter(owner__isnull=True).first()

    @property
    def username(self) -> str:
        found = self.own_credential()
        return found.username if found else ""

    @property
    def has_password(self) -> bool:
        found = self.own_credential()
        return bool(found and found.password_encrypted)

    @property
    def credentials_scope(self) -> str:
        found = self.own_credential()
        return str(found.scope) if found else str(Credential.Scope.PERSONAL)

    def set_own_credential(self, username: str, password: str | None, scope: str = "") -> None:
        """Store the registry's own login; no username: none. `password` None keeps the stored."""
        found = self.own_credential()
        if not username:
            if found is not None:
                found.delete()
            return
        cred = found or Credential(registry=self, owner=None)
        if found is None or username != found.username:
            cred.password_encrypted = ""
        cred.username = username
        if password is not None:
            cred.set_password(password)
        if scope:
            cred.scope = scope
        cred.save()


class Credential(models.Model):
    """A login for one registry: whose it is (`owner`) and who else may use it (`scope`).

    owner None: the registry's own login, entered by an admin in the registry
    form (admins use it; others only when its scope is shared-pull).
    """

    class Scope(models.TextChoices):
        PERSONAL = "personal", "Personal: only its owner uses it"
        SHARED_PULL = "shared-pull", "Shared for pulls: everyone allowed to use the registry pulls"

    registry = models.ForeignKey(Registry, on_delete=models.CASCADE, related_name="credentials")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE
    )
    username = models.CharField(max_length=150)
    # Fernet token of the password; the plain text is never stored, shown or logged.
    password_encrypted = models.TextField(blank=True, editable=False)
    scope = models.CharField(max_length=16, choices=Scope.choices, default=Scope.PERSONAL)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["registry", "owner__username"]
        constraints = [
            models.UniqueConstraint(
                fields=["registry", "owner"], name="one_credential_per_owner_and_registry"
            ),
            models.UniqueConstraint(
                fields=["registry"],
                condition=models.Q(owner__isnull=True),
                name="one_own_credential_per_registry",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.username} on {self.registry} ({self.scope})"

    @property
    def has_password(self) -> bool:
        return bool(self.password_encrypted)

    def set_password(self, plain: str) -> None:
        self.password_encrypted = crypto.encrypt(plain)

    def get_password(self) -> str:
        return crypto.decrypt(self.password_encrypted)

    def auth_config(self) -> dict[str, str]:
        """The login as the engine takes it."""
        registry = self.registry
        return {
            "username": self.username,
            "password": self.get_password(),
            "serveraddress": DOCKER_HUB_URL if registry.is_docker_hub else registry.host,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.pk,
            "registry": self.registry_id,
            "owner": self.owner.get_username() if self.owner else None,
            "username": self.username,
            "has_password": self.has_password,
            "scope": self.scope,
        }


class Job(models.Model):
    class Kind(models.TextChoices):
        PULL = "pull", "Pull"
        PUSH = "push", "Push"
        BUILD = "build", "Build"

    class State(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    state = models.CharField(max_length=10, choices=State.choices, default=State.RUNNING)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    username = models.CharField(max_length=150)
    registry = models.ForeignKey(Registry, null=True, blank=True, on_delete=models.SET_NULL)
    target = models.CharField(max_length=512, help_text="the image reference pulled/pushed/built")
    source = models.CharField(max_length=512, blank=True, help_text="push: the local image")
    error = models.TextField(blank=True)
    log = models.TextField(blank=True)
    progress = models.JSONField(default=dict, blank=True)
    digest = models.CharField(max_length=100, blank=True)
    image_id = models.CharField(max_length=100, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    finished = models.DateTimeField(null=True, blank=True)
    # Who runs it (registry_app.processes) and when that process last said it still does:
    # a running job whose process is gone is failed by another (registry_app.recovery).
    runner = models.CharField(max_length=255, blank=True, default=processes.this_process)
    heartbeat = models.DateTimeField(null=True, blank=True, default=timezone.now)
    # The audit row of the action that started it, written when it ends; kept here for the
    # process that finds it cut short (empty: the job's action has no row of its own).
    audit_row = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.target} ({self.state})"

    @property
    def done(self) -> bool:
        return self.state != self.State.RUNNING

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.pk,
            "kind": self.kind,
            "state": self.state,
            "error": self.error,
            "log": self.log,
            "progress": self.progress,
            "target": self.target,
            "source": self.source,
            "registry": self.registry_id,
            "digest": self.digest,
            "image_id": self.image_id,
            "user": self.username,
            "created": self.created.isoformat() if self.created else None,
            "finished": self.finished.isoformat() if self.finished else None,
        }
