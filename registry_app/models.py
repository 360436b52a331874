"""Registries (with encrypted credentials), pull/push/build jobs, and who owns which image."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import models

from registry_app import crypto

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
    username = models.CharField(max_length=150, blank=True)
    # Fernet token of the password; the plain text is never stored, shown or logged.
    password_encrypted = models.TextField(blank=True, editable=False)
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

    @property
    def has_password(self) -> bool:
        return bool(self.password_encrypted)

    def set_password(self, plain: str) -> None:
        self.password_encrypted = crypto.encrypt(plain)

    def get_password(self) -> str:
        return crypto.decrypt(self.password_encrypted)

    def auth_config(self) -> dict[str, str] | None:
        """The credentials the engine needs for this registry, or None for anonymous."""
        if not self.username:
            return None
        return {
            "username": self.username,
            "password": self.get_password(),
            "serveraddress": DOCKER_HUB_URL if self.is_docker_hub else self.host,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.pk,
            "name": self.name,
            "url": self.url,
            "host": self.host,
            "username": self.username,
            "has_password": self.has_password,
            "docker_hub": self.is_docker_hub,
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
