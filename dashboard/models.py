"""Users with a role, and the append-only audit log."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    INSTRUCTOR = "instructor", "Instructor"
    STUDENT = "student", "Student"
    VIEWER = "viewer", "Viewer"


class User(AbstractUser):
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.STUDENT)

    @property
    def effective_role(self) -> str:
        return str(Role.ADMIN) if self.is_superuser else self.role


class AuditEntry(models.Model):
    """One mutating action: who did what to which object, and how it ended."""

    time = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    username = models.CharField(max_length=150, db_index=True)
    role = models.CharField(max_length=16, blank=True)
    client_addr = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    target_kind = models.CharField(max_length=32, blank=True)
    target_id = models.CharField(max_length=128, blank=True)
    target_name = models.CharField(max_length=255, blank=True)
    params = models.JSONField(default=dict, blank=True)
    result = models.CharField(max_length=8, default="ok")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-time", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.username} {self.action} {self.target_name}"
