"""Users with a role and their API tokens, the append-only audit log, the quotas of a shared
host, and the classes (rosters and lab templates) that decide whom an instructor sees."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    INSTRUCTOR = "instructor", "Instructor"
    STUDENT = "student", "Student"
    VIEWER = "viewer", "Viewer"


class User(AbstractUser):
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.STUDENT)
    directory_role = models.BooleanField(
        default=False, help_text="the role follows directory groups, set again at each sign-in"
    )

    @property
    def effective_role(self) -> str:
        return str(Role.ADMIN) if self.is_superuser else self.role

    # The facts the access and image rules are given about this user, read once per user
    # object: one per request (the auth middleware, DRF), one per websocket connection.

    @cached_property
    def taught(self) -> frozenset[str]:
        """Usernames of the students (and viewers) in the classes this user teaches."""
        if self.effective_role != Role.INSTRUCTOR or self.pk is None:
            return frozenset()
        return frozenset(
            User.objects.filter(
                courses__instructors=self,
                role__in=TAUGHT_ROLES,
                is_superuser=False,
            ).values_list("username", flat=True)
        )

    @cached_property
    def allowed_images(self) -> frozenset[str] | None:
        """The images this user's classes allow (None: no class of theirs restricts them)."""
        labs = Lab.objects.filter(course__students=self) if self.pk is not None else None
        if labs is None or not labs.exists():
            return None
        return frozenset(ref for lab in labs for ref in lab.images())

    def load_facts(self) -> None:
        """Read those facts now, for code that may not query later (a websocket's loop)."""
        _ = self.taught, self.allowed_images


class ApiToken(models.Model):
    """A key a script sends as `Authorization: Token <key>` to act as its owner.

    Only a SHA-256 of the key is kept (the key is shown once, when it is made); `prefix`,
    which the key carries in the clear, finds the row. See dashboard.api_tokens.
    """

    class Scope(models.TextChoices):
        READ_ONLY = "read-only", "read-only"
        READ_WRITE = "read-write", "read-write"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="what it is for, in its owner's words")
    prefix = models.CharField(max_length=16, db_index=True)
    secret_hash = models.CharField(max_length=64)
    scope = models.CharField(max_length=16, choices=Scope.choices, default=Scope.READ_ONLY)
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField()
    last_used = models.DateTimeField(null=True, blank=True)
    last_used_addr = models.CharField(max_length=64, blank=True)
    revoked = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}) of {self.owner_id}"

    @property
    def state(self) -> str:
        """ "revoked", "expired" or "active"."""
        if self.revoked is not None:
            return "revoked"
        return "expired" if self.expires <= timezone.now() else "active"


class ApiTokenAddress(models.Model):
    """An address a token was used from: a use from one not here is audited, once."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="addresses")
    address = models.CharField(max_length=64)
    first_used = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["token", "address"], name="unique_token_address")
        ]

    def __str__(self) -> str:
        return f"{self.address} (token {self.token_id})"


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

    # The log is append-only: a row, once written, is never changed or removed.
    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise AuditLogIsAppendOnly("audit entries cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AuditLogIsAppendOnly("audit entries cannot be deleted")


class AuditLogIsAppendOnly(Exception):
    pass


class QuotaLimits(models.Model):
    """The limits of a shared host; empty means "no limit" for a role, "the role's" for a user."""

    max_containers = models.PositiveIntegerField(
        "containers in total", null=True, blank=True, help_text="running or stopped"
    )
    max_running = models.PositiveIntegerField(
        "running containers", null=True, blank=True, help_text="running, paused or restarting"
    )
    memory_per_container = models.PositiveBigIntegerField(
        "memory per container (bytes)", null=True, blank=True
    )
    memory_total = models.PositiveBigIntegerField(
        "memory of running containers (bytes)", null=True, blank=True
    )
    cpus_per_container = models.FloatField("CPUs per container", null=True, blank=True)
    cpus_total = models.FloatField("CPUs of running containers", null=True, blank=True)
    pids_per_container = models.PositiveIntegerField("pids per container", null=True, blank=True)
    max_volumes = models.PositiveIntegerField("volumes", null=True, blank=True)
    max_networks = models.PositiveIntegerField("networks", null=True, blank=True)

    LIMIT_FIELDS = (
        "max_containers",
        "max_running",
        "memory_per_container",
        "memory_total",
        "cpus_per_container",
        "cpus_total",
        "pids_per_container",
        "max_volumes",
        "max_networks",
    )

    class Meta:
        abstract = True


class RoleQuota(QuotaLimits):
    """The default limits of everyone with a role (admins have none: they are exempt)."""

    role = models.CharField(max_length=16, choices=Role.choices, unique=True)

    class Meta:
        ordering = ["role"]

    def __str__(self) -> str:
        return f"defaults for {self.role}s"


class Quota(QuotaLimits):
    """One user's own limits; each empty field falls back to the role's default."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quota"
    )

    def __str__(self) -> str:
        return f"quota of {self.user}"


class ImageOwnership(models.Model):
    """An image a user pulled or built through the dashboard (images carry no owner label
    when pulled, so the shared-host policy reads ownership from here)."""

    image_id = models.CharField(max_length=100, db_index=True)
    ref = models.CharField(max_length=512)
    username = models.CharField(max_length=150, db_index=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "registry_app_imageownership"  # made by registry_app's first migration
        constraints = [
            models.UniqueConstraint(fields=["image_id", "ref", "username"], name="unique_ownership")
        ]

    def __str__(self) -> str:
        return f"{self.ref} ({self.image_id[:19]}) owned by {self.username}"


TAUGHT_ROLES: tuple[str, ...] = (str(Role.STUDENT), str(Role.VIEWER))


class Course(models.Model):
    """A class: its instructors see and control its students, and only them."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=50, unique=True)
    instructors = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="courses_taught", blank=True
    )
    students = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="courses", blank=True)
    # Directory groups (by name) whose members are the class's students, and its instructors
    # (members with the instructor role), set again at each sign-in (dashboard.directory).
    directory_group = models.CharField(max_length=255, blank=True)
    directory_staff_group = models.CharField(max_length=255, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class Lab(models.Model):
    """A lab template: the containers each student of the class gets, and the class's images.

    `containers` holds create bodies as the API takes them (DESIGN.md); `volume` is
    where each student's working volume is mounted in them ("" for none).
    """

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="labs")
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=50)
    containers = models.JSONField(default=list)
    network = models.BooleanField(default=True, help_text="a network of its own per student")
    volume = models.CharField(max_length=255, blank=True)
    allowed_images = models.JSONField(default=list, blank=True)
    labels = models.JSONField(default=dict, blank=True, help_text="on everything it makes")
    idle_minutes = models.PositiveIntegerField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    extend_max_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="most a student may extend it (default: the setting)"
    )
    compose = models.TextField(blank=True, help_text="the Compose file it was made from, if any")
    runs_as = models.CharField(
        max_length=10,
        choices=[("containers", "containers"), ("services", "Swarm services")],
        default="containers",
        help_text="containers on the engine, or one Swarm service per container",
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["course", "slug"]
        constraints = [
            models.UniqueConstraint(fields=["course", "slug"], name="unique_lab_slug_per_course")
        ]

    def __str__(self) -> str:
        return f"{self.course.slug}/{self.slug}"

    def images(self) -> list[str]:
        """What students of the class may run: the lab's images and its allow-list."""
        named = [*(str(c.get("image", "")) for c in self.containers), *self.allowed_images]
        return list(dict.fromkeys(named))  # each once, in the order the lab names them
